# Baseline CAM network on the synthetic demo data, EfficientNet-Lite0 (CPU).
_base_ = ['./cam_squeezenet_demo.py', '../_base_/models/effnetlite0.py']
model = dict(
    data_preprocessor={{_base_.effnet_norm}},
    backbone={{_base_.effnet_backbone}},
    in_channels={{_base_.effnet_channels}})
optim_wrapper = dict(optimizer=dict(lr={{_base_.effnet_cam_lr}}))
