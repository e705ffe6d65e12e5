# Paper Table 1 row II, "+ vanilla context prototypes" (IRN setting: seed
# 50.1 -> 51.2), as the paper runs it: NO L_self (the row before "+ L_self"),
# so the CAM network trains exactly as the baseline and the gain can only
# come from scoring the prototype-aware map: score it with --cam-type pacam
# (or fused). PACAM from ALL k context prototypes of the class, equal
# weights, no alignment; the side head stays at its random initialisation
# (no loss trains it), which keeps the backbone's cosine structure (a random
# projection of L2-normalised stages).
_base_ = ['../cam_cpal_squeezenet_voc12mini.py']
model = dict(
    cpal=dict(
        neighbours=dict(num_neighbours=None),
        positiveness=dict(type='UniformPositiveness'),
        alignment=dict(type='NoAlignment'),
        loss_self=dict(loss_weight=0.0)))
