# Swapping the backbone is a few lines: ResNet-101, same recipe.
_base_ = ['./cam_r50_voc.py']
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet101_8xb32_in1k_20210831-539c63f8.pth')))
