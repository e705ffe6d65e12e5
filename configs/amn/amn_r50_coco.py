# AMN on MS COCO 2014 train (80 classes, 81-way output), the VOC recipe
# otherwise; data in the layout tools/prepare_coco.py writes. Point the run
# at the CAM network's IR labels with
#   --cfg-options train_dataloader.dataset.pipeline.1.ir_label_dir=DIR
_base_ = ['./amn_r50_voc.py']
dataset_type = 'COCO14ImageLevelDataset'
data_root = 'data/coco2014'
ir_label_dir = 'work_dirs/cam_r50_coco/ir_labels'
model = dict(num_classes=80)
train_pipeline = [
    dict(type='LoadImageChecked'),
    dict(type='LoadIRLabel', ir_label_dir=ir_label_dir),  # keep at index 1
    dict(type='RandomRescale', ratio_range=(0.5, 1.5)),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomCropWithValid',
        crop_size=512,
        pad_val=(103.53, 116.28, 123.675),
        seg_pad_val=255),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(
            img_path='JPEGImages/train2014',
            seg_map_path='SegmentationClass/train2014'),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(
            img_path='JPEGImages/val2014',
            seg_map_path='SegmentationClass/val2014')))
test_dataloader = val_dataloader
train_cfg = dict(val_interval=5)  # val2014 is 40k images: at the end only
