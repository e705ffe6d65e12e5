# DeepLab-v2 ResNet-101 trained on WSSS pseudo masks of MS COCO 2014 train
# (81 classes), evaluated on the ground truth of COCO 2014 val.
# Same recipe as the VOC config (deeplabv2_r101-d8_1xb10-20k_voc12aug-...)
# with 100k iterations, the length deeplab-pytorch uses for COCO-Stuff 164k
# (configs/cocostuff164k.yaml ITER_MAX 100000); WSSS papers vary here, see
# docs/deeplabv2.md. Pseudo masks (one folder of <id>.png, values 0..80/255):
#   python tools/train.py THIS_CONFIG --cfg-options \
#       train_dataloader.dataset.data_prefix.seg_map_path=/abs/path/masks
_base_ = [
    '../_base_/models/deeplabv2_r101-d8.py',
    '../_base_/datasets/coco14_seg_pseudo.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
max_iters = 100000
model = dict(decode_head=dict(num_classes=81))
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9, weight_decay=5e-4),
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
# val2014 has 40k images: validate once, at the end.
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000))
