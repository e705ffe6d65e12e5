# CAM network + CPAL on VOC 2012 train_aug (paper §4: batch 16, 5 epochs,
# bank 1000, k=50, K=20, tau=0.1). Defaults of every [choice] follow the
# method page; see mmcpal.models.cpal.CPALBranch.
_base_ = ['../cam/cam_r50_voc.py']
model = dict(
    cpal=dict(
        _delete_=True,
        type='CPALBranch',
        in_channels=1024 + 2048,  # last two ResNet stages, resized to CAM grid
        in_index=(-2, -1),
        embed_dims=128,
        bank_size=1000,
        num_clusters=50,
        num_neighbours=20,
        tau=0.1,
        loss_weight=1.0))
custom_hooks = [dict(type='ContextClusteringHook')]
