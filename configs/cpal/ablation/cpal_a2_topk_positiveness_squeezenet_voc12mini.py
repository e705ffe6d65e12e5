# Paper Table 1 row III, "+ prototype-aware (top-K + positiveness)" (IRN:
# 51.2 -> 54.5): no L_self, scored on PACAM (see cpal_a1_...). Top-K = 5 by
# cosine with standardised dot-product positiveness (the branch defaults),
# no alignment.
_base_ = ['../cam_cpal_squeezenet_voc12mini.py']
model = dict(
    cpal=dict(
        alignment=dict(type='NoAlignment'),
        loss_self=dict(loss_weight=0.0)))
