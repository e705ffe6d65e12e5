# AMN + CPAL on ../shared/data/voc12-mini (SqueezeNet, CPU), the second
# reading (the CPALBranch defaults); bank and k scaled to 330 images.
_base_ = ['../amn/amn_squeezenet_voc12mini.py']
model = dict(
    # SIPE's side projections read the four residual stages (strides 4-16)
    # but not the stem: SqueezeNet's stages 1-3 (strides 4 / 8 / 16) with
    # SIPE's widths at those strides.
    backbone=dict(out_indices=(1, 2, 3)),
    cpal=dict(
        _delete_=True,
        type='CPALBranch',
        head=dict(type='SideProjectionHead', in_channels=(128, 256, 512),
                  out_channels=(128, 128, 256), in_index=(0, 1, 2)),
        bank=dict(type='SupportBank', capacity=300),
        clustering=dict(type='SphericalKMeans', num_clusters=20),
        neighbours=dict(type='TopKNeighbours', num_neighbours=10),
        tau=0.1))
custom_hooks = [dict(type='ContextClusteringHook')]
