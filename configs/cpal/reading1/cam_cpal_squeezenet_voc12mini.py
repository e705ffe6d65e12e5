# The first reading of CPAL (method page: MLP head on the last two stages,
# PACAM background 1 - max, dot-product softmax at t = 1, pixel shift), kept
# so the benchmark can compare it with the second; the same behaviour as the
# flat-argument branch of earlier releases (mmcpal.models.cpal.parts_from_flat
# converts such a config).
_base_ = ['../cam_cpal_squeezenet_voc12mini.py']
model = dict(
    backbone=dict(out_indices=(2, 3)),
    cpal=dict(
        head=dict(_delete_=True, type='MLPProjectionHead',
                  in_channels=256 + 512, in_index=(-2, -1), embed_dims=128),
        positiveness=dict(type='SoftmaxPositiveness', metric='dot',
                          temperature=1.0),
        alignment=dict(type='PixelShiftAlignment'),
        background=dict(type='OneMinusMaxBackground')))
