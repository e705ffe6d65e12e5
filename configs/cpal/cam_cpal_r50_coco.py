# CAM network + CPAL on MS COCO 2014 train (80 classes), the hyper-parameters
# of configs/cpal/cam_cpal_r50_voc.py; see mmcpal.models.cpal.CPALBranch.
_base_ = ['../cam/cam_r50_coco.py']
model = dict(
    cpal=dict(
        _delete_=True,  # the base's cpal is None
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
