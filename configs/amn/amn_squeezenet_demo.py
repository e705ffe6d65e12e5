# AMN on the synthetic demo data (6 classes), SqueezeNet on CPU. IR labels of
# the demo CAM network (configs/cam/cam_squeezenet_demo.py); override with
#   --cfg-options train_dataloader.dataset.pipeline.1.ir_label_dir=DIR
_base_ = [
    '../_base_/models/amn_squeezenet.py', '../_base_/datasets/demo_amn.py',
    '../_base_/schedules/amn_cpu_5ep.py', '../_base_/default_runtime.py'
]
model = dict(num_classes=6)
default_hooks = dict(logger=dict(interval=5))
