# IRN's class-boundary network (Ahn et al., CVPR 2019; net/resnet50_irn.py of
# jiwoon-ahn/irn): ImageNet ResNet-50 (not the CAM network's weights) with
# ResNet strides [2, 2, 2, 1], i.e. the stem + layer1..4 at strides
# 4/4/8/16/16, frozen and in eval mode (IRN detaches every stage and trains
# the new branches only); the boundary branch reads all five stages (1x1 conv
# to 32 channels + GroupNorm(4, 32) each) on the stride-4 grid of layer1.
# The affinity loss relates pairs within radius 10 (step/train_irn.py).
model = dict(
    type='IRNet',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='ResNetWithStem',
        depth=50,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 1),
        out_indices=(0, 1, 2, 3),
        frozen_stages=4,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth')),
    in_channels=(64, 256, 512, 1024, 2048),
    branch_channels=32,
    num_groups=4,
    grid_index=1,
    radius=10,
    freeze_backbone=True)
