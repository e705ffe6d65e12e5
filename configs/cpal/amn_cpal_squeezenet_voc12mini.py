# AMN + CPAL on ../shared/data/voc12-mini (SqueezeNet, CPU), the second
# reading (the CPALBranch defaults); bank and k scaled to 330 images.
_base_ = ['../amn/amn_squeezenet_voc12mini.py']
model = dict(
    backbone=dict(out_indices=(0, 1, 2, 3)),  # the head reads every stage
    cpal=dict(
        _delete_=True,
        type='CPALBranch',
        head=dict(type='SideProjectionHead', in_channels=(64, 128, 256, 512)),
        bank=dict(type='SupportBank', capacity=300),
        clustering=dict(type='SphericalKMeans', num_clusters=20),
        neighbours=dict(type='TopKNeighbours', num_neighbours=10),
        tau=0.1))
custom_hooks = [dict(type='ContextClusteringHook')]
