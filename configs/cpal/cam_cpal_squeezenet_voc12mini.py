# CAM network + CPAL on ../shared/data/voc12-mini (SqueezeNet, CPU), the
# second reading of the method page (SIPE-style side embedding of the
# residual stages, image-specific background prototype, standardised positiveness,
# prototype shift: the CPALBranch defaults). Bank and k scaled to 330 images
# (14-132 images per class). The first reading: reading1/.
_base_ = ['../cam/cam_squeezenet_voc12mini.py']
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
        bank=dict(type='SupportBank', capacity=200),
        clustering=dict(type='SphericalKMeans', num_clusters=10),
        neighbours=dict(type='TopKNeighbours', num_neighbours=5),
        tau=0.1))
custom_hooks = [dict(type='ContextClusteringHook')]
