# AMN on VOC 2012 train_aug, the published recipe (gaviotas/AMN run_sample.py,
# step/train_amn.py): ResNet-50, IR labels of the CAM network, eps 0.4,
# Adam 5e-6 / 1e-4, 5 epochs at batch 16 (2 x 8 GPUs), 512 crops.
#
# Pipeline (scripts/generate_pseudo_mask.sh of gaviotas/AMN):
#   1. CAM network -> CAMs -> IR labels with conf_fg_thres 0.30,
#      conf_bg_thres 0.05 (seed evaluated at cam_eval_thres 0.15)
#   2. this config, trained on those IR labels
#   3. AMN CAMs (conditioned on each image's labels) -> IR labels with
#      conf_fg_thres 0.45, conf_bg_thres 0.15 -> IRN (configs/irn/)
# Point the run at the IR labels of step 1 with
#   --cfg-options train_dataloader.dataset.pipeline.1.ir_label_dir=DIR
_base_ = [
    '../_base_/models/amn_r50.py', '../_base_/datasets/voc12_amn.py',
    '../_base_/schedules/amn_5ep.py', '../_base_/default_runtime.py'
]
