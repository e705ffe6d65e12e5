# Paper Table 1 row IV, "+ feature distribution alignment" (IRN: 54.5 ->
# 56.8): no L_self, scored on PACAM (see cpal_a1_...). The next row, "+ L_self"
# (62.5), is the full method: ../cam_cpal_squeezenet_voc12mini.py.
_base_ = ['../cam_cpal_squeezenet_voc12mini.py']
model = dict(cpal=dict(loss_self=dict(loss_weight=0.0)))
