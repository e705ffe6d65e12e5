# AMN's training data (gaviotas/AMN step/train_amn.py, VOC12SegmentationDataset
# in voc12/dataloader.py): VOC 2012 train_aug images with the IR labels of the
# CAM network (<ir_label_dir>/<img_id>.png: 0 background, 1..20 confident
# foreground, 255 unsure); random rescale 0.5-1.5 (bicubic image, nearest
# labels), horizontal flip, 512 random crop (image padded with 0 after
# normalising = the mean colour, labels with 255).
#
# `ir_label_dir` is read when the config is parsed; to point a run elsewhere
# override the pipeline key itself:
#   --cfg-options train_dataloader.dataset.pipeline.1.ir_label_dir=DIR
dataset_type = 'VOCImageLevelDataset'
data_root = 'data/VOCdevkit/VOC2012'
ir_label_dir = 'work_dirs/cam_r50_voc/ir_labels'
crop_size = 512
pad_bgr = (103.53, 116.28, 123.675)  # ImageNet mean, BGR: 0 once normalised
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
# Validation: AMN's segmentation (conditioned on the image labels) against
# the ground truth of `val` (AMN prints the same measure on train each epoch;
# no model selection on training-set masks here).
test_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='LoadSegMap'),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    batch_size=2,  # x 8 GPUs = AMN's 16 (run_sample.py --amn_batch_size)
    num_workers=2,
    persistent_workers=True,
    drop_last=True,  # as AMN's DataLoader
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train_aug.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        pipeline=train_pipeline))
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
val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
