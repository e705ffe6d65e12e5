# IRN boundary network on the synthetic demo data (tools/make_demo_data.py
# data/demo), SqueezeNet on CPU: IRN's augmentation and optimiser at a
# 160 px crop, batch 8, 3 epochs.
#
# Point the run at the IR labels with
#   --cfg-options train_dataloader.dataset.pipeline.1.ir_label_dir=DIR
_base_ = ['../_base_/models/irn_squeezenet.py', '../_base_/default_runtime.py']

ir_label_dir = 'work_dirs/demo/ir_labels'
dataset_type = 'SyntheticWSSSDataset'
data_root = 'data/demo'
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

# IRN's optimiser (see configs/irn/irn_r50_voc.py).
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
default_hooks = dict(logger=dict(interval=5))
