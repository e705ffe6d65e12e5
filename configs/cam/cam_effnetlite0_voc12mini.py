# Baseline CAM network on ../shared/data/voc12-mini, EfficientNet-Lite0 (CPU):
# the SqueezeNet recipe with the backbone of configs/_base_/models/
# effnetlite0.py.
# lr 0.01 (SqueezeNet: 0.001), chosen from image-level classification mAP
# on a held-out fifth of the training images (every 5th of train.txt: 264
# fit / 66 held out; 5 epochs, seed 0, one run each; no masks used):
# lr 1e-3 -> mAP 30.7 (final loss 0.24), lr 1e-2 -> 73.5 (loss 0.08).
# Epochs and frozen stages (0-1) were not searched.
_base_ = [
    './cam_squeezenet_voc12mini.py', '../_base_/models/effnetlite0.py'
]
model = dict(
    data_preprocessor={{_base_.effnet_norm}},
    backbone={{_base_.effnet_backbone}},
    in_channels={{_base_.effnet_channels}})
optim_wrapper = dict(optimizer=dict(lr={{_base_.effnet_cam_lr}}))
