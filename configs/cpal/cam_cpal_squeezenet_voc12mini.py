# CAM network + CPAL on ../shared/data/voc12-mini (SqueezeNet, CPU). Bank and
# k scaled to 330 images (14-132 images per class).
_base_ = ['../cam/cam_squeezenet_voc12mini.py']
model = dict(
    cpal=dict(
        _delete_=True,
        type='CPALBranch',
        in_channels=256 + 512,
        in_index=(-2, -1),
        embed_dims=128,
        bank_size=200,
        num_clusters=10,
        num_neighbours=5,
        tau=0.1))
custom_hooks = [dict(type='ContextClusteringHook')]
