# Optimiser: the paper's text (SGD momentum 0.9, no clipping); the recipe as
# IRN's / SIPE's code ran it: configs/cpal/cam_cpal_r50_voc_as-run.py.
# Baseline CAM network (IRN-style) on VOC 2012 train_aug, the paper's recipe.
_base_ = [
    '../_base_/models/cam_r50.py', '../_base_/datasets/voc12_cls.py',
    '../_base_/schedules/cam_5ep.py', '../_base_/default_runtime.py'
]
