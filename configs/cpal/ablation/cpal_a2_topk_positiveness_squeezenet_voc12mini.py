# CPAL ablation, paper Table 1 row "+ prototype awareness" (top-K soft
# neighbours + positiveness; IRN: 51.2 -> 54.5), on ../shared/data/voc12-mini.
# Mapping: top-K = 5 neighbours by cosine, dot-product positiveness (the
# branch defaults), still no alignment and PACAM a fixed target
# (detach_pacam=True) until the "+ L_self" row.
_base_ = ['../cam_cpal_squeezenet_voc12mini.py']
model = dict(cpal=dict(align='none', detach_pacam=True))
