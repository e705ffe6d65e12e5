# Baseline CAM network on ../shared/data/voc12-mini, EfficientNet-Lite0 (CPU):
# the SqueezeNet recipe with the backbone of configs/_base_/models/
# effnetlite0.py.
# lr 0.01 (SqueezeNet: 0.001): LR_DECISION_PENDING
_base_ = [
    './cam_squeezenet_voc12mini.py', '../_base_/models/effnetlite0.py'
]
model = dict(
    data_preprocessor={{_base_.effnet_norm}},
    backbone={{_base_.effnet_backbone}},
    in_channels={{_base_.effnet_channels}})
optim_wrapper = dict(optimizer=dict(lr={{_base_.effnet_cam_lr}}))
