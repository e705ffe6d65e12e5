# AMN + CPAL on VOC 2012 train_aug, mmcpal's flagship (paper Table 4: AMN
# seed 62.1 -> 65.7 mIoU with CPAL). AMN's recipe (configs/amn/amn_r50_voc.py)
# with the CPAL branch on AMN's last two ResNet stages and its foreground
# probability maps; bank 1000, k=50, K=20, tau=0.1 (paper). Override the IR
# labels with
#   --cfg-options train_dataloader.dataset.pipeline.1.ir_label_dir=DIR
_base_ = ['../amn/amn_r50_voc.py']
model = dict(
    cpal=dict(
        _delete_=True,
        type='CPALBranch',
        in_channels=1024 + 2048,  # last two ResNet stages, on the AMN grid
        in_index=(-2, -1),
        embed_dims=128,
        bank_size=1000,
        num_clusters=50,
        num_neighbours=20,
        tau=0.1,
        loss_weight=1.0))
custom_hooks = [dict(type='ContextClusteringHook')]
