# AMN + CPAL on the demo data (SqueezeNet, CPU), the second reading (the
# CPALBranch defaults) on AMN's features and foreground probabilities. Bank
# and k scaled as in configs/cpal/cam_cpal_squeezenet_demo.py.
_base_ = ['../amn/amn_squeezenet_demo.py']
model = dict(
    backbone=dict(out_indices=(0, 1, 2, 3)),  # the head reads every stage
    cpal=dict(
        _delete_=True,
        type='CPALBranch',
        head=dict(type='SideProjectionHead', in_channels=(64, 128, 256, 512)),
        bank=dict(type='SupportBank', capacity=200),
        clustering=dict(type='SphericalKMeans', num_clusters=10),
        neighbours=dict(type='TopKNeighbours', num_neighbours=5),
        tau=0.1))
custom_hooks = [dict(type='ContextClusteringHook')]
