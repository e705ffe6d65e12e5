# Baseline CAM network on ../shared/data/voc12-mini (330 real VOC images),
# SqueezeNet, 10 epochs of 21 iterations at batch 16 on CPU.
_base_ = [
    '../_base_/models/cam_squeezenet.py',
    '../_base_/datasets/voc12_mini_cls.py',
    '../_base_/schedules/cam_cpu_10ep.py', '../_base_/default_runtime.py'
]
train_cfg = dict(val_interval=100)  # no val split: train only
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = dict(type='TestLoop')
