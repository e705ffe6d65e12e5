# AMN (gaviotas/AMN net/resnet50_amn.py): ImageNet ResNet-50 at output stride
# 16 (strides (2, 2, 2, 1) incl. the stem = mmpretrain strides (1, 2, 2, 1)),
# BN statistics frozen with trainable affine parameters (IRN's
# FixedBatchNorm), conv1/bn1 frozen (Net.train sets requires_grad=False);
# the last stage scaled per channel by Linear(C, 2048)(label); classifier
# Dropout(0.1) + ASPP rates (6, 12, 18, 24) to C + 1 channels. Torchvision
# RGB normalisation (voc12/dataloader.py TorchvisionNormalize).
# AMN loads torchvision's resnet50-19c8e357; the repo's other R50 configs use
# mmpretrain's ImageNet weights, so these do too.
model = dict(
    type='AMN',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=50,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 1),
        out_indices=(2, 3),
        frozen_stages=0,  # the stem only
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth')),
    num_classes=20,
    in_channels=2048,
    dilations=(6, 12, 18, 24),
    dropout_ratio=0.1,
    eps=0.4,  # run_sample.py --eps
    cpal=None)
