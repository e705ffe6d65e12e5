# The first reading of CPAL on VOC 2012 train_aug with ResNet-50 (see
# reading1/cam_cpal_squeezenet_voc12mini.py).
_base_ = ['../cam_cpal_r50_voc.py']
model = dict(
    backbone=dict(out_indices=(2, 3)),
    cpal=dict(
        head=dict(_delete_=True, type='MLPProjectionHead',
                  in_channels=1024 + 2048, in_index=(-2, -1), embed_dims=128),
        positiveness=dict(type='SoftmaxPositiveness', metric='dot',
                          temperature=1.0),
        alignment=dict(type='PixelShiftAlignment'),
        background=dict(type='OneMinusMaxBackground')))
