# AMN on ../shared/data/voc12-mini (330 real VOC images), SqueezeNet on CPU,
# 256 px crops, batch 8, 5 epochs; no validation split: train only. Override
# the IR labels with
#   --cfg-options train_dataloader.dataset.pipeline.1.ir_label_dir=DIR
_base_ = [
    '../_base_/models/amn_squeezenet.py',
    '../_base_/datasets/voc12_mini_amn.py',
    '../_base_/schedules/amn_cpu_5ep.py', '../_base_/default_runtime.py'
]
# 256 px crops give a 15x15 grid: ASPP rates scaled from AMN's 32x32 grid.
model = dict(dilations=(3, 6, 8, 11))
train_cfg = dict(val_interval=100)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
default_hooks = dict(logger=dict(interval=5))
