# AMN's training data on the synthetic demo set (tools/make_demo_data.py
# data/demo): AMN's augmentation (rescale 0.5-1.5, flip, crop padded with the
# mean / 255) at a 160 px crop. IR labels of the demo CAM network; override
#   --cfg-options train_dataloader.dataset.pipeline.1.ir_label_dir=DIR
dataset_type = 'SyntheticWSSSDataset'
data_root = 'data/demo'
ir_label_dir = 'work_dirs/demo/cam/ir_labels'
crop_size = 160
pad_bgr = (103.939, 116.779, 123.68)  # the Caffe mean: 0 after normalising
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
test_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='LoadSegMap'),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
