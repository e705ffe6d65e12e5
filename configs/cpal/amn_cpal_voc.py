# AMN + CPAL on VOC 2012 train_aug, mmcpal's flagship (paper Table 4: AMN
# seed 62.1 -> 65.7 mIoU with CPAL). AMN's recipe (configs/amn/amn_r50_voc.py)
# with the CPAL branch (second reading, the CPALBranch defaults) on AMN's
# ResNet stages and its foreground probability maps; bank 1000, k=50, K=20,
# tau=0.1 (paper). Override the IR labels with
#   --cfg-options train_dataloader.dataset.pipeline.1.ir_label_dir=DIR
_base_ = ['../amn/amn_r50_voc.py']
model = dict(
    backbone=dict(out_indices=(0, 1, 2, 3)),  # SIPE's side head: layers 1-4
    cpal=dict(
        _delete_=True,
        type='CPALBranch',
        head=dict(type='SideProjectionHead',
                  in_channels=(256, 512, 1024, 2048)),
        bank=dict(type='SupportBank', capacity=1000),
        clustering=dict(type='SphericalKMeans', num_clusters=50),
        neighbours=dict(type='TopKNeighbours', num_neighbours=20),
        tau=0.1))
custom_hooks = [dict(type='ContextClusteringHook')]
