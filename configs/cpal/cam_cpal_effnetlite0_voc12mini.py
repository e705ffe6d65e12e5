# CAM network + CPAL on the voc12-mini (EfficientNet-Lite0, CPU): the
# SqueezeNet CPAL config with the backbone of configs/_base_/models/
# effnetlite0.py; the CPAL side head reads stages 1-4.
_base_ = [
    './cam_cpal_squeezenet_voc12mini.py', '../_base_/models/effnetlite0.py'
]
model = dict(
    data_preprocessor={{_base_.effnet_norm}},
    backbone={{_base_.effnet_cpal_backbone}},
    in_channels={{_base_.effnet_channels}},
    cpal=dict(head={{_base_.effnet_cpal_head}}))
optim_wrapper = dict(optimizer=dict(lr={{_base_.effnet_cam_lr}}))
