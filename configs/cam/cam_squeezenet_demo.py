# Baseline CAM network on the synthetic demo data, SqueezeNet (CPU, minutes).
_base_ = [
    '../_base_/models/cam_squeezenet.py', '../_base_/datasets/demo_cls.py',
    '../_base_/schedules/cam_cpu_10ep.py', '../_base_/default_runtime.py'
]
model = dict(num_classes=6)
train_cfg = dict(max_epochs=10, val_interval=5)
