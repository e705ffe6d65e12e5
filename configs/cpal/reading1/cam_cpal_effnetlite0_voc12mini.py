# The first reading of CPAL (see cam_cpal_squeezenet_voc12mini.py here) on
# EfficientNet-Lite0: the MLP head on stages 3 + 4.
_base_ = ['../cam_cpal_effnetlite0_voc12mini.py']
model = dict(
    backbone={{_base_.effnet_backbone}},
    cpal=dict(
        head=dict(_delete_=True, type='MLPProjectionHead',
                  in_channels=112 + 1280, in_index=(-2, -1), embed_dims=128),
        positiveness=dict(type='SoftmaxPositiveness', metric='dot',
                          temperature=1.0),
        alignment=dict(type='PixelShiftAlignment'),
        background=dict(type='OneMinusMaxBackground')))
