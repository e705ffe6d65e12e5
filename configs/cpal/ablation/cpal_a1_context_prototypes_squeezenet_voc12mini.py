# CPAL ablation, paper Table 1 row "+ context prototypes" (IRN: 50.1 -> 51.2),
# on ../shared/data/voc12-mini. Our mapping (the paper gives no code, see
# docs/benchmarks.md): PACAM from ALL k context prototypes of the class,
# uniformly weighted (no top-K, no positiveness), no feature alignment.
# Before the "+ L_self" row the CAM is supervised one-way by PACAM as a fixed
# target (detach_pacam=True): L_self does not train the projection head.
_base_ = ['../cam_cpal_squeezenet_voc12mini.py']
model = dict(
    cpal=dict(
        num_neighbours=None,
        positiveness='uniform',
        align='none',
        detach_pacam=True))
