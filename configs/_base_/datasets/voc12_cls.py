# PASCAL VOC 2012 (+SBD train_aug list) with image-level labels, IRN-lineage
# augmentation: long side 320-640, flip, 512 crop with a valid mask.
dataset_type = 'VOCImageLevelDataset'
data_root = 'data/VOCdevkit/VOC2012'
crop_size = 512
train_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='RandomLongSideResize', scale_range=(320, 640)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCropWithValid', crop_size=crop_size),
    dict(type='PackWSSSInputs'),
]
test_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    batch_size=2,  # x 8 GPUs = the paper's 16
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train_aug.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        pipeline=train_pipeline))
# Validation is multi-label classification mAP on `val`: never model
# selection with masks of the training set.
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmpretrain.AveragePrecision')
test_evaluator = val_evaluator
