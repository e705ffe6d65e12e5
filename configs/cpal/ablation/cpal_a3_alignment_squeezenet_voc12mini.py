# CPAL ablation, paper Table 1 row "+ feature distribution alignment"
# (IRN: 54.5 -> 56.8), on ../shared/data/voc12-mini. Mapping: top-K +
# positiveness + align='pixels' (the branch defaults), PACAM still a fixed
# target (detach_pacam=True). The next row, "+ L_self" (IRN: 62.5), is the full
# method: ../cam_cpal_squeezenet_voc12mini.py itself, where L_self is the
# two-sided consistency loss that also trains the projection head.
_base_ = ['../cam_cpal_squeezenet_voc12mini.py']
model = dict(cpal=dict(detach_pacam=True))
