# AMN's training data on ../shared/data/voc12-mini (330 real VOC images, no
# validation split): AMN's augmentation at a 256 px crop. Override the IR
# labels with
#   --cfg-options train_dataloader.dataset.pipeline.1.ir_label_dir=DIR
dataset_type = 'VOCImageLevelDataset'
data_root = '../shared/data/voc12-mini'
ir_label_dir = 'work_dirs/voc12mini/cam/ir_labels'
crop_size = 256
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
