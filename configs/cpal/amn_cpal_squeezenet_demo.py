# AMN + CPAL on the demo data (SqueezeNet, CPU). Bank and k scaled to the data
# set size (about 200 training images, 1-3 objects each), as in
# configs/cpal/cam_cpal_squeezenet_demo.py.
_base_ = ['../amn/amn_squeezenet_demo.py']
model = dict(
    cpal=dict(
        _delete_=True,
        type='CPALBranch',
        in_channels=256 + 512,  # fire5 + fire9, on the AMN grid
        in_index=(-2, -1),
        embed_dims=128,
        bank_size=200,
        num_clusters=10,
        num_neighbours=5,
        tau=0.1))
custom_hooks = [dict(type='ContextClusteringHook')]
