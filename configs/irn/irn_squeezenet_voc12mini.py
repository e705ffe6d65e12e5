# IRN boundary network on ../shared/data/voc12-mini (330 real VOC images),
# SqueezeNet on CPU, 256 px crops, batch 8, 3 epochs.
#
# Point the run at the IR labels with
#   --cfg-options train_dataloader.dataset.pipeline.1.ir_label_dir=DIR
_base_ = ['./irn_squeezenet_demo.py']

ir_label_dir = 'work_dirs/voc12mini/ir_labels'
dataset_type = 'VOCImageLevelDataset'
data_root = '../shared/data/voc12-mini'
crop_size = 256
pad_bgr = (103.939, 116.779, 123.68)
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
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=train_pipeline))
