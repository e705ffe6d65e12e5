# AMN + CPAL on ../shared/data/voc12-mini (SqueezeNet, CPU); bank and k scaled
# to 330 images.
_base_ = ['../amn/amn_squeezenet_voc12mini.py']
model = dict(
    cpal=dict(
        _delete_=True,
        type='CPALBranch',
        in_channels=256 + 512,  # fire5 + fire9, on the AMN grid
        in_index=(-2, -1),
        embed_dims=128,
        bank_size=300,
        num_clusters=20,
        num_neighbours=10,
        tau=0.1))
custom_hooks = [dict(type='ContextClusteringHook')]
