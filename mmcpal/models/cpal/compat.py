"""The first (flat-argument) form of the CPAL branch config, as parts.

Before the branch was composed of registered parts it took 27 keyword
arguments (``align='pixels'``, ``positiveness='dot'``, ``bank_size=...``).
:func:`parts_from_flat` turns such a config into the parts form with the
same behaviour (``tests/test_models/test_cpal/test_parts_equivalence.py``
pins it against outputs recorded from the old branch), for users with old
configs and for the benchmark's "first reading" rows.
"""
from typing import Any, Dict, Optional, Sequence, Union

_ALIGN_TYPES = dict(pixels='PixelShiftAlignment', mask='MaskShiftAlignment',
                    prototype='PrototypeShiftAlignment', none='NoAlignment')


def parts_from_flat(*,
                    num_classes: Optional[int] = None,
                    in_channels: int,
                    in_index: Union[int, Sequence[int]] = (-2, -1),
                    embed_dims: int = 128,
                    head_mid_channels: Optional[int] = None,
                    bank_size: int = 1000,
                    num_clusters: int = 50,
                    num_neighbours: Optional[int] = 20,
                    tau: float = 0.1,
                    normalize_embed: bool = False,
                    detach_feats: bool = True,
                    bg_alpha: float = 1.0,
                    positiveness: str = 'dot',
                    positiveness_scale: float = 1.0,
                    detach_weights: bool = True,
                    align: str = 'pixels',
                    detach_shift: bool = True,
                    warmup: str = 'fallback',
                    warmup_iters: int = 0,
                    loss_channels: str = 'all',
                    norm: str = 'max',
                    detach_pacam: bool = False,
                    loss_weight: float = 1.0,
                    kmeans_iters: int = 100,
                    seed: int = 0,
                    type: str = 'CPALBranch',
                    **rest: Any) -> Dict[str, Any]:
    """The parts config of a flat-argument ``CPALBranch`` config.

    Args:
        Every argument of the flat branch, with its old default (see the
        method page §15 for what each became).

    Returns:
        dict: ``dict(type='CPALBranch', head=..., bank=..., ...)``.
    """
    if align not in _ALIGN_TYPES:
        raise ValueError(f'parts_from_flat: unknown `align` {align!r}; valid '
                         f'ones are {tuple(_ALIGN_TYPES)}')
    if positiveness == 'uniform':
        pos = dict(type='UniformPositiveness', detach=detach_weights)
    else:
        pos = dict(type='SoftmaxPositiveness', metric=positiveness,
                   temperature=positiveness_scale, detach=detach_weights)
    alignment = dict(type=_ALIGN_TYPES[align])
    if align != 'none':
        alignment['detach'] = detach_shift
    cfg = dict(
        rest,
        type=type,
        head=dict(type='MLPProjectionHead', in_channels=in_channels,
                  in_index=in_index, embed_dims=embed_dims,
                  mid_channels=head_mid_channels, normalize=normalize_embed),
        bank=dict(type='SupportBank', capacity=bank_size),
        clustering=dict(type='SphericalKMeans', num_clusters=num_clusters,
                        iters=kmeans_iters, seed=seed),
        neighbours=dict(type='TopKNeighbours', num_neighbours=num_neighbours),
        positiveness=pos,
        alignment=alignment,
        background=dict(type='OneMinusMaxBackground'),
        loss_self=dict(type='PACAMLoss', loss_weight=loss_weight,
                       channels=loss_channels, norm=norm,
                       detach_pacam=detach_pacam),
        tau=tau,
        bg_alpha=bg_alpha,
        detach_feats=detach_feats,
        warmup=warmup,
        warmup_iters=warmup_iters)
    if num_classes is not None:
        cfg['num_classes'] = num_classes
    return cfg
