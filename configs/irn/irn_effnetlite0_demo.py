# IRN boundary network on the demo data (EfficientNet-Lite0, CPU): the
# SqueezeNet config with the frozen backbone of configs/_base_/models/
# effnetlite0.py; the boundary branch reads its five stages on the grid of
# stage 1 (stride 4).
_base_ = ['./irn_squeezenet_demo.py', '../_base_/models/effnetlite0.py']
model = dict(
    data_preprocessor={{_base_.effnet_norm}},
    backbone={{_base_.effnet_irn_backbone}},
    in_channels={{_base_.effnet_irn_channels}},
    grid_index=1)
