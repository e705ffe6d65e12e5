# Baseline CAM network (IRN-style ResNet-50) on MS COCO 2014 train, 80
# classes; the VOC recipe otherwise (RIB's COCO CAM stage uses the same
# crop, batch, epochs and lr).
_base_ = [
    '../_base_/models/cam_r50.py', '../_base_/datasets/coco14_cls.py',
    '../_base_/schedules/cam_5ep.py', '../_base_/default_runtime.py'
]
model = dict(num_classes=80)
train_cfg = dict(val_interval=5)  # val2014 is 40k images: validate at the end
