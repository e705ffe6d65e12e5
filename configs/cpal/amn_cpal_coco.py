# AMN + CPAL on MS COCO 2014 (paper: DeepLab-v2 val 46.3 mIoU after the full
# chain). The VOC flagship's CPAL branch on the COCO AMN config.
_base_ = ['../amn/amn_r50_coco.py']
model = dict(
    cpal=dict(
        _delete_=True,
        type='CPALBranch',
        in_channels=1024 + 2048,
        in_index=(-2, -1),
        embed_dims=128,
        bank_size=1000,
        num_clusters=50,
        num_neighbours=20,
        tau=0.1,
        loss_weight=1.0))
custom_hooks = [dict(type='ContextClusteringHook')]
