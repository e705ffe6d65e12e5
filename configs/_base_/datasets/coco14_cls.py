# MS COCO 2014 with image-level labels, in the layout tools/prepare_coco.py
# writes (ids = file stems; labels in ImageSets/Segmentation/image_labels.tsv).
# Same IRN-lineage augmentation as VOC: RIB's COCO CAM stage
# (jbeomlee93/RIB run_sample_coco.py) keeps crop 512, batch 16, 5 epochs.
dataset_type = 'COCO14ImageLevelDataset'
data_root = 'data/coco2014'
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
    batch_size=2,  # x 8 GPUs = 16
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(
            img_path='JPEGImages/train2014',
            seg_map_path='SegmentationClass/train2014'),
        pipeline=train_pipeline))
# Multi-label classification mAP on val2014 (40k images: the CAM configs
# validate once, after the last epoch).
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
            img_path='JPEGImages/val2014',
            seg_map_path='SegmentationClass/val2014'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmpretrain.AveragePrecision')
test_evaluator = val_evaluator
