# AMN on the demo data (EfficientNet-Lite0, CPU): the SqueezeNet
# config with the backbone of configs/_base_/models/effnetlite0.py. Its grid
# at stride 16 is within one cell of SqueezeNet's: same ASPP rates, same lr.
_base_ = ['./amn_squeezenet_demo.py', '../_base_/models/effnetlite0.py']
model = dict(
    data_preprocessor={{_base_.effnet_norm}},
    backbone={{_base_.effnet_backbone}},
    in_channels={{_base_.effnet_channels}})
