# IRN boundary network on VOC 2012 train_aug, the published recipe
# (jiwoon-ahn/irn run_sample.py, step/train_irn.py, voc12/dataloader.py):
# random rescale 0.5-1.5, flip, 512 crop, 3 epochs at batch 32 (4 x 8 GPUs).
#
# The IR labels (<ir_label_dir>/<img_id>.png: 0 background, 1..C confident
# foreground, 255 unsure) are made from the CAMs first. Point the run at them
# with  --cfg-options train_dataloader.dataset.pipeline.1.ir_label_dir=DIR
# (`ir_label_dir` below is only the default written into that key; the
# ground-truth masks are not loaded).
_base_ = ['../_base_/models/irn_r50.py', '../_base_/default_runtime.py']

ir_label_dir = 'work_dirs/irn_r50_voc/ir_labels'
dataset_type = 'VOCImageLevelDataset'
data_root = 'data/VOCdevkit/VOC2012'
crop_size = 512
# IRN crops after normalising and pads with 0, i.e. the mean colour: the
# ImageNet mean in BGR (the crop runs on the raw BGR image here).
pad_bgr = (103.53, 116.28, 123.675)
train_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='LoadIRLabel', ir_label_dir=ir_label_dir),  # keep at index 1
    dict(type='RandomRescale', ratio_range=(0.5, 1.5)),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomCropWithValid',
        crop_size=crop_size,
        pad_val=pad_bgr,
        seg_pad_val=255),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    batch_size=4,  # x 8 GPUs = IRN's 32
    num_workers=4,
    persistent_workers=True,
    drop_last=True,  # as IRN's DataLoader
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train_aug.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        pipeline=train_pipeline))

# IRN: lr 0.1, weight decay 1e-4, poly decay (power 0.9) per iteration over
# 3 epochs (misc/torchutils.py::PolyOptimizer). PolyOptimizer passes the
# weight decay positionally as SGD's momentum, so IRN trains with momentum
# 1e-4, i.e. none: momentum 0 here.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.0, weight_decay=1e-4))
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=3)
auto_scale_lr = dict(enable=False, base_batch_size=32)
