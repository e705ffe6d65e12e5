"""Functional core of the CPAL branch: pure functions on tensors.

CPAL (Tang et al., "Hunting Attributes: Context Prototype-Aware Learning for
Weakly Supervised Semantic Segmentation", CVPR 2024, arXiv 2403.07630) has no
official code; every step below follows ``docs/cpal-method.md``, whose section
numbers are cited as "§n" and which marks what the paper states and what we
chose. The branch module composes these functions; the tests in
``tests/test_models/test_cpal/test_functional.py`` pin their values.

Conventions: ``B`` images, ``C`` foreground classes, ``E`` embedding dims,
``h x w`` feature grid, ``K`` neighbours. CAM-like outputs have ``C + 1``
channels, channel 0 being the background. ``valid`` masks are ``(B, 1, h, w)``
with 1 on real pixels and 0 on crop padding; spatial maxima and sums are taken
over valid pixels only, so padding never sets a normaliser. No function
divides by zero: empty masks, all-zero maps and fully padded images give
zeros, never NaN or inf, in values and gradients.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

#: Added to spatial maxima before dividing (method page §1, §8).
MAX_EPS = 1e-5

#: Similarities :func:`positiveness` understands.
POSITIVENESS_METRICS = ('dot', 'cosine', 'l1', 'l2', 'uniform')

_Shape = Sequence[Optional[int]]


# --------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------
def _check_shape(fn: str, name: str, tensor: Tensor, shape: _Shape) -> None:
    """Raise a ValueError unless ``tensor`` matches ``shape``.

    ``None`` entries of ``shape`` match any size.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f'{fn}: `{name}` must be a torch.Tensor, but got '
                        f'{type(tensor).__name__}')
    ok = tensor.dim() == len(shape) and all(
        want is None or want == got for want, got in zip(shape, tensor.shape))
    if not ok:
        pretty = '(' + ', '.join('*' if s is None else str(s)
                                 for s in shape) + ')'
        raise ValueError(f'{fn}: `{name}` must have shape {pretty}, but got '
                         f'{tuple(tensor.shape)}')


def _valid_or_ones(fn: str, valid: Optional[Tensor], ref: Tensor) -> Tensor:
    """``valid`` as a float mask of ``ref``'s dtype, checked against it.

    Args:
        fn (str): Caller name, for error messages.
        valid (Tensor, optional): ``(B, 1, h, w)`` mask or None (all valid).
        ref (Tensor): A ``(B, *, h, w)`` tensor giving batch, grid and dtype.

    Returns:
        Tensor: ``(B, 1, h, w)`` 0/1 mask in ``ref.dtype``.
    """
    b, _, h, w = ref.shape
    if valid is None:
        return ref.new_ones(b, 1, h, w)
    _check_shape(fn, 'valid', valid, (b, 1, h, w))
    return (valid > 0).to(ref.dtype)


def _max_normalise(maps: Tensor, valid: Tensor) -> Tensor:
    """Divide each channel by its spatial max over valid pixels (+1e-5).

    Args:
        maps (Tensor): ``(B, C, h, w)`` non-negative maps.
        valid (Tensor): ``(B, 1, h, w)`` 0/1 float mask.

    Returns:
        Tensor: ``(B, C, h, w)`` maps in ``[0, 1)``, zero on padding.
    """
    maps = maps * valid
    peak = maps.flatten(2).amax(dim=2)[..., None, None]
    return maps / (peak + MAX_EPS)


# --------------------------------------------------------------------------
# §1 CAM
# --------------------------------------------------------------------------
def cam_from_logits(logits: Tensor,
                    labels: Tensor,
                    valid: Optional[Tensor] = None,
                    bg_alpha: float = 1.0) -> Tensor:
    """Normalised CAM with a background channel (method page §1).

    Foreground ``M_c = ReLU(A_c) / (max_xy ReLU(A_c) + 1e-5)`` for the classes
    in ``labels``, 0 for the others; background ``M_0 = (1 - max_c M_c) **
    bg_alpha``; all channels multiplied by ``valid``.

    Note:
        The spatial max is taken over valid pixels only: activations on crop
        padding neither set the normaliser nor appear in the output.

    Args:
        logits (Tensor): ``(B, C, h, w)`` raw class activation maps ``A``.
        labels (Tensor): ``(B, C)`` multi-hot image labels (float or bool).
        valid (Tensor, optional): ``(B, 1, h, w)`` mask, 1 on real pixels.
            Defaults to None (all pixels valid).
        bg_alpha (float): Exponent of the background. Defaults to 1.0
            [choice].

    Returns:
        Tensor: ``(B, C + 1, h, w)`` CAM, channel 0 the background.
    """
    fn = 'cam_from_logits'
    _check_shape(fn, 'logits', logits, (None, None, None, None))
    b, c = logits.shape[:2]
    _check_shape(fn, 'labels', labels, (b, c))
    if not bg_alpha > 0:
        raise ValueError(f'{fn}: `bg_alpha` must be > 0, but got {bg_alpha}')
    valid = _valid_or_ones(fn, valid, logits)
    fg = _max_normalise(F.relu(logits), valid)
    fg = fg * (labels > 0).to(fg.dtype)[..., None, None]
    bg = 1.0 - fg.amax(dim=1, keepdim=True) if c > 0 else torch.ones_like(
        valid)
    if bg_alpha != 1.0:
        # fg < 1 so bg > 0 in exact arithmetic; the clamp only guards the
        # gradient of x ** alpha (alpha < 1) against rounding to 0.
        bg = bg.clamp(min=1e-6)**bg_alpha
    return torch.cat([bg, fg], dim=1) * valid


def l1_normalise(cam: Tensor,
                 valid: Optional[Tensor] = None,
                 eps: float = 1e-5) -> Tensor:
    """Divide each channel by its spatial sum over valid pixels (+eps).

    The method page's ``norm='l1'`` reading of "L1 normalisation of two CAMs"
    (§9).

    Args:
        cam (Tensor): ``(B, C + 1, h, w)`` non-negative maps.
        valid (Tensor, optional): ``(B, 1, h, w)`` mask. Defaults to None
            (all pixels valid).
        eps (float): Added to the sum. Defaults to 1e-5.

    Returns:
        Tensor: ``(B, C + 1, h, w)``; each channel sums to just under 1 (or
        is all zero), padding is zero.
    """
    fn = 'l1_normalise'
    _check_shape(fn, 'cam', cam, (None, None, None, None))
    valid = _valid_or_ones(fn, valid, cam)
    cam = cam * valid
    return cam / (cam.sum(dim=(2, 3), keepdim=True) + eps)


# --------------------------------------------------------------------------
# §2 instance prototypes
# --------------------------------------------------------------------------
def instance_prototypes(
        embed: Tensor,
        fg_cams: Tensor,
        labels: Tensor,
        tau: float = 0.1,
        *,
        valid: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Masked average of the embedding over each class's reliable region.

    ``p_{n,c} = sum(m * z) / sum(m)`` with ``m = 1[M_c > tau]`` (method page
    §2, paper Eq. 4). Prototypes are not re-normalised.

    Args:
        embed (Tensor): ``(B, E, h, w)`` pixel embeddings ``z``.
        fg_cams (Tensor): ``(B, C, h, w)`` normalised foreground CAM channels
            (the caller detaches them).
        labels (Tensor): ``(B, C)`` multi-hot labels.
        tau (float): Reliability threshold. Defaults to 0.1 [paper].
        valid (Tensor, optional): ``(B, 1, h, w)`` mask restricting the
            reliable region to real pixels. Defaults to None.

    Returns:
        tuple[Tensor, Tensor]: ``protos`` ``(B, C, E)`` and ``present``
        ``(B, C)`` bool. ``present`` is False, and the prototype zero, for
        absent classes and for empty masks.
    """
    fn = 'instance_prototypes'
    _check_shape(fn, 'embed', embed, (None, None, None, None))
    b, _, h, w = embed.shape
    _check_shape(fn, 'fg_cams', fg_cams, (b, None, h, w))
    c = fg_cams.shape[1]
    _check_shape(fn, 'labels', labels, (b, c))
    mask = (fg_cams > tau) & (labels > 0)[..., None, None]
    if valid is not None:
        _check_shape(fn, 'valid', valid, (b, 1, h, w))
        mask = mask & (valid > 0)
    mask = mask.to(embed.dtype)
    area = mask.sum(dim=(2, 3))  # (B, C)
    sums = torch.einsum('bchw,behw->bce', mask, embed)
    protos = sums / area.clamp(min=1.0)[..., None]
    return protos, area > 0


# --------------------------------------------------------------------------
# §4 spherical k-means
# --------------------------------------------------------------------------
def _kmeanspp_uniforms(k: int, seed: int) -> Tensor:
    """The ``k`` uniform draws of k-means++ initialisation, on the CPU.

    Draw ``j`` picks the ``j``-th seed: the first is row
    ``floor(u_0 * n)``, the next ones are found by inverse-CDF sampling of
    the squared chord distances. Drawn from a CPU ``torch.Generator`` in
    float64, so every device and rank gets the same numbers.
    """
    gen = torch.Generator(device='cpu')
    gen.manual_seed(int(seed))
    return torch.rand(k, generator=gen, dtype=torch.float64)


def _kmeanspp_init(xn: Tensor, counts: Tensor, k: int,
                   seed: int) -> Tensor:
    """k-means++ seeds of every group (all groups have ``counts > k``).

    Args:
        xn (Tensor): ``(G, N, E)`` L2-normalised rows, padding rows zero.
        counts (Tensor): ``(G,)`` number of real rows of each group.
        k (int): Number of seeds.
        seed (int): Seed of the uniform draws.

    Returns:
        Tensor: ``(G, k)`` long row indices of the seeds.
    """
    g, n, _ = xn.shape
    # float64 keeps the inverse-CDF search exact enough to agree across
    # devices; MPS has no float64.
    acc = torch.float32 if xn.device.type == 'mps' else torch.float64
    u = _kmeanspp_uniforms(k, seed).to(device=xn.device, dtype=acc)
    row_ok = torch.arange(n, device=xn.device)[None] < counts[:, None]
    last = (counts - 1)[:, None]
    chosen = xn.new_zeros(g, k, dtype=torch.long)
    idx = (u[0] * counts.to(acc)).floor().long()[:, None].clamp(max=last)
    chosen[:, :1] = idx
    # ``best`` = max cosine of every row to the seeds chosen so far.
    best = torch.full((g, n), -1.0, dtype=xn.dtype, device=xn.device)
    xt = xn.transpose(1, 2).contiguous()  # (G, E, N): a faster mat-vec
    for j in range(k):
        if j > 0:
            # D^2 = squared chord distance to the nearest seed, 2 - 2 cos.
            d2 = ((2.0 - 2.0 * best).clamp(min=0.0) * row_ok).to(acc)
            cum = d2.cumsum(dim=1)
            target = u[j] * cum[:, -1:]
            idx = torch.searchsorted(cum, target, right=True).clamp(max=last)
            chosen[:, j:j + 1] = idx
        seed_rows = xn.gather(1, idx[..., None].expand(-1, -1, xn.shape[2]))
        sim = torch.bmm(seed_rows, xt).squeeze(1)
        best = torch.maximum(best, sim).scatter_(1, idx, 1.0)
    return chosen


def _cluster_sums(rows: Tensor, assign: Tensor, k: int) -> Tensor:
    """Per-group sums of the rows of each cluster: ``(G, N, E) -> (G, k, E)``.

    On the CPU a flat ``index_add_`` (3-4x faster than ``scatter_add_``);
    elsewhere a one-hot batched matmul, which unlike atomic scatters sums in
    a fixed order, so every rank gets bitwise the same centres.
    """
    g, n, e = rows.shape
    if rows.device.type == 'cpu':
        offset = torch.arange(g, device=rows.device)[:, None] * k
        flat = (assign + offset).reshape(-1)
        return rows.new_zeros(g * k, e).index_add_(
            0, flat, rows.reshape(-1, e)).view(g, k, e)
    onehot = rows.new_zeros(g, k, n).scatter_(1, assign[:, None], 1.0)
    return torch.bmm(onehot, rows)


def _assign(xn: Tensor, centres: Tensor) -> Tuple[Tensor, Tensor]:
    """Nearest centre by cosine; returns ``(assign (G, N), sims)``."""
    sims = torch.bmm(xn, centres.transpose(1, 2))
    return sims.argmax(dim=2), sims


def _update_centres(xn: Tensor, row_ok: Tensor, assign: Tensor,
                    sims: Tensor, k: int) -> Tensor:
    """Unit mean direction of each cluster; empty clusters are re-seeded.

    An empty cluster takes the row least similar to the centre it is
    assigned to (the ``m``-th empty cluster of a group, in index order,
    takes the ``m``-th such row): deterministic, no random draw.
    """
    g, n, e = xn.shape
    sums = _cluster_sums(xn, assign, k)
    sizes = xn.new_zeros(g, k).scatter_add_(1, assign, row_ok.to(xn.dtype))
    centres = F.normalize(sums, dim=2)
    empty = sizes == 0
    if bool(empty.any()):
        own = sims.gather(2, assign[..., None]).squeeze(2)
        own = own.masked_fill(~row_ok, float('inf'))
        far = own.argsort(dim=1, stable=True)
        rank = (empty.long().cumsum(dim=1) - 1).clamp(min=0)
        pick = far.gather(1, rank)
        reseed = xn.gather(1, pick[..., None].expand(-1, -1, e))
        centres = torch.where(empty[..., None], reseed, centres)
    return centres


def _lloyd(xn: Tensor, counts: Tensor, k: int, iters: int,
           seed: int) -> Tensor:
    """Spherical k-means assignments of groups that all have ``counts > k``.

    One iteration = centre update then assignment; a group stops (is frozen)
    as soon as an assignment step changes nothing, so its result does not
    depend on the other groups of the batch.

    Returns:
        Tensor: ``(G, N)`` long assignments (padding rows arbitrary).
    """
    g, n, e = xn.shape
    row_ok = torch.arange(n, device=xn.device)[None] < counts[:, None]
    seeds = _kmeanspp_init(xn, counts, k, seed)
    centres = xn.gather(1, seeds[..., None].expand(-1, -1, e))
    assign, sims = _assign(xn, centres)
    # Work on the groups still moving; write the others back once frozen.
    out = assign.clone()
    todo = torch.arange(g, device=xn.device)
    for _ in range(iters):
        centres = _update_centres(xn, row_ok, assign, sims, k)
        new_assign, sims = _assign(xn, centres)
        moving = ((new_assign != assign) & row_ok).any(dim=1)
        assign = new_assign
        if not bool(moving.all()):
            out[todo] = assign
            todo, xn, row_ok = todo[moving], xn[moving], row_ok[moving]
            assign, sims = assign[moving], sims[moving]
            if todo.numel() == 0:
                break
    out[todo] = assign
    return out


def batched_spherical_kmeans(
        x: Tensor,
        counts: Tensor,
        k: int,
        iters: int = 100,
        seed: int = 0,
        *,
        return_assign: bool = False
) -> Union[Tuple[Tensor, Tensor], Tuple[Tensor, Tensor, Tensor]]:
    """Spherical k-means of ``G`` groups (classes) at once.

    For every group ``g`` the first ``counts[g]`` rows of ``x[g]`` are
    clustered (the rest is padding and ignored), with exactly the result of
    :func:`spherical_kmeans` on those rows (method page §4):

    - Assignments use the L2-normalised rows (cosine similarity); a row of
      zeros is assigned to the first centre.
    - k-means++ initialisation on the squared chord distance ``2 - 2 cos``,
      driven by ``k`` uniform numbers from a CPU ``torch.Generator`` seeded
      with ``seed`` (float64): draw 0 picks row ``floor(u_0 * n)``, draw
      ``j`` the row where the cumulative distance first exceeds
      ``u_j * total``. Every group uses the same draws, and results are the
      same on every device and rank.
    - At most ``iters`` Lloyd iterations (centre update = unit mean of the
      members' normalised rows, then re-assignment); a group stops early
      when its assignments no longer change.
    - Empty clusters [choice]: re-seeded at the row least similar to the
      centre it is assigned to (deterministic, no random draw). Clusters still empty
      at the end are dropped, so a group whose rows have fewer than ``k``
      distinct directions (duplicates) returns fewer centres.
    - The returned centre of a cluster is the plain mean of its members'
      *raw* (unnormalised) rows [choice], so norms stay below those of the
      rows.
    - A group with ``counts[g] <= k`` returns its rows as they are; one with
      no rows returns none.

    Args:
        x (Tensor): ``(G, N, E)`` rows, group ``g`` holding ``counts[g]``
            real rows first.
        counts (Tensor): ``(G,)`` integer counts in ``[0, N]``.
        k (int): Number of clusters (>= 1).
        iters (int): Maximum number of Lloyd iterations (>= 0).
            Defaults to 100 [choice].
        seed (int): Seed of the k-means++ draws. Defaults to 0.
        return_assign (bool): Also return the assignments. Defaults to False.

    Returns:
        tuple: ``centres`` ``(G, k, E)`` (group ``g``'s first
        ``centre_counts[g]`` rows are its centres, the rest zeros),
        ``centre_counts`` ``(G,)`` long, ``centre_counts[g] = min(k,
        counts[g])`` unless duplicates left clusters empty; with
        ``return_assign`` also ``assign`` ``(G, N)`` long, the centre index
        of every real row, -1 on padding.
    """
    fn = 'batched_spherical_kmeans'
    _check_shape(fn, 'x', x, (None, None, None))
    g, n, e = x.shape
    _check_shape(fn, 'counts', counts, (g, ))
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f'{fn}: `k` must be a positive int, but got {k!r}')
    if not isinstance(iters, int) or isinstance(iters, bool) or iters < 0:
        raise ValueError(f'{fn}: `iters` must be an int >= 0, but got '
                         f'{iters!r}')
    if counts.dtype.is_floating_point or counts.dtype == torch.bool:
        raise ValueError(f'{fn}: `counts` must be an integer tensor, but got '
                         f'{counts.dtype}')
    counts = counts.to(device=x.device, dtype=torch.long)
    if g > 0 and (counts.min() < 0 or counts.max() > n):
        raise ValueError(f'{fn}: `counts` must lie in [0, N={n}], but got '
                         f'values in [{int(counts.min())}, '
                         f'{int(counts.max())}]')
    x = x.detach()
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    row_ok = torch.arange(n, device=x.device)[None] < counts[:, None]

    # Groups with at most k rows: every row is its own centre.
    assign = torch.arange(n, device=x.device).expand(g, n).clone()
    big = (counts > k).nonzero().squeeze(1)
    if big.numel() > 0:
        xn = F.normalize(work[big], dim=2) * row_ok[big][..., None]
        assign[big] = _lloyd(xn, counts[big], k, iters, seed)
    assign = assign.masked_fill(~row_ok, 0)

    # Raw means of the members; padding rows count nowhere.
    raw = work * row_ok[..., None].to(work.dtype)
    sums = _cluster_sums(raw, assign, k)
    sizes = counts.new_zeros(g, k).scatter_add_(1, assign, row_ok.long())
    means = (sums / sizes.clamp(min=1)[..., None].to(work.dtype)).to(x.dtype)

    # Drop empty clusters, keeping the order of the others.
    keep = sizes > 0
    order = (~keep).long().argsort(dim=1, stable=True)[:, :k]
    centres = means.gather(1, order[..., None].expand(-1, -1, e))
    centre_counts = keep.sum(dim=1)
    centres = centres * (torch.arange(k, device=x.device)[None] <
                         centre_counts[:, None])[..., None].to(x.dtype)
    if not return_assign:
        return centres, centre_counts
    new_id = keep.long().cumsum(dim=1) - 1
    assign = new_id.gather(1, assign).masked_fill(~row_ok, -1)
    return centres, centre_counts, assign


def spherical_kmeans(x: Tensor,
                     k: int,
                     iters: int = 100,
                     seed: int = 0) -> Tuple[Tensor, Tensor]:
    """Spherical k-means with raw-mean centres (method page §4).

    The single-group case of :func:`batched_spherical_kmeans`, whose
    docstring gives the algorithm, the random draws and the handling of
    empty clusters.

    Args:
        x (Tensor): ``(N, E)`` rows (e.g. one class of the support bank).
        k (int): Number of clusters (>= 1).
        iters (int): Maximum number of Lloyd iterations. Defaults to 100.
        seed (int): Seed of the k-means++ draws. Defaults to 0.

    Returns:
        tuple[Tensor, Tensor]: ``centres`` ``(k', E)``, the raw means of the
        clusters, ``k' = min(k, N)`` (fewer only when duplicates leave
        clusters empty; the rows themselves when ``N <= k``; empty for
        ``N = 0``), and ``assign`` ``(N,)`` long indices into ``centres``.
    """
    _check_shape('spherical_kmeans', 'x', x, (None, None))
    counts = torch.tensor([x.shape[0]], device=x.device)
    centres, centre_counts, assign = batched_spherical_kmeans(
        x[None], counts, k, iters, seed, return_assign=True)
    return centres[0, :int(centre_counts[0])], assign[0]


# --------------------------------------------------------------------------
# §5-7 neighbours, positiveness, alignment
# --------------------------------------------------------------------------
def select_neighbours(protos: Tensor, context: Tensor,
                      K: int) -> Tuple[Tensor, Tensor]:
    """Top-``K`` context prototypes of each instance prototype by cosine.

    Method page §5 (paper Eq. 6). A zero vector has cosine 0 with
    everything.

    Args:
        protos (Tensor): ``(N, E)`` instance prototypes of one class.
        context (Tensor): ``(k, E)`` context prototypes of that class.
        K (int): Number of neighbours (>= 1).

    Returns:
        tuple[Tensor, Tensor]: ``index`` ``(N, K')`` long and ``cos``
        ``(N, K')``, ``K' = min(K, k)``, most similar first.
    """
    fn = 'select_neighbours'
    _check_shape(fn, 'protos', protos, (None, None))
    _check_shape(fn, 'context', context, (None, protos.shape[1]))
    if not isinstance(K, int) or isinstance(K, bool) or K < 1:
        raise ValueError(f'{fn}: `K` must be a positive int, but got {K!r}')
    cos = F.normalize(protos, dim=1) @ F.normalize(context, dim=1).t()
    top = min(K, context.shape[0])
    cos, index = cos.topk(top, dim=1, largest=True, sorted=True)
    return index, cos


def positiveness(protos: Tensor,
                 neighbours: Tensor,
                 metric: str = 'dot',
                 scale: float = 1.0,
                 *,
                 neighbour_mask: Optional[Tensor] = None) -> Tensor:
    """Softmax weights of the neighbours of each prototype (paper Eq. 7).

    ``w_k = softmax_k(sim(p, c_k) / scale)`` (method page §6). The caller
    detaches the result if the weights are to be constants.

    Args:
        protos (Tensor): ``(N, E)`` instance prototypes.
        neighbours (Tensor): ``(N, K, E)`` their neighbours.
        metric (str): ``'dot'`` (dot product) [paper, default],
            ``'cosine'``, ``'l1'`` / ``'l2'`` (negative L1 / Euclidean
            distance) or ``'uniform'`` (equal weights, for ablations).
            Defaults to 'dot'.
        scale (float): Softmax temperature ``t`` (> 0). Defaults to 1.0
            [choice].
        neighbour_mask (Tensor, optional): ``(N, K)`` bool, False for
            padding neighbours, which get weight 0 (a row with none gets all
            zeros). Defaults to None (all real).

    Returns:
        Tensor: ``(N, K)`` weights summing to 1 over each row with a real
        neighbour.
    """
    fn = 'positiveness'
    if metric not in POSITIVENESS_METRICS:
        raise ValueError(f'{fn}: unknown `metric` {metric!r}; valid ones are '
                         f'{", ".join(POSITIVENESS_METRICS)}')
    if not scale > 0:
        raise ValueError(f'{fn}: `scale` must be > 0, but got {scale}')
    _check_shape(fn, 'protos', protos, (None, None))
    _check_shape(fn, 'neighbours', neighbours,
                 (protos.shape[0], None, protos.shape[1]))
    sim = similarity(protos, neighbours, metric)
    return _masked_softmax(fn, sim / scale, neighbours, neighbour_mask)


def similarity(protos: Tensor, neighbours: Tensor, metric: str) -> Tensor:
    """Pair-wise score of each prototype with each of its neighbours.

    The ``sim`` of paper Eq. 7 (method page §6); Table 3 compares the
    metrics.

    Args:
        protos (Tensor): ``(N, E)`` instance prototypes.
        neighbours (Tensor): ``(N, K, E)`` their neighbours.
        metric (str): ``'dot'``, ``'cosine'``, ``'l1'`` / ``'l2'``
            (negative L1 / Euclidean distance) or ``'uniform'`` (all 0).

    Returns:
        Tensor: ``(N, K)`` scores, higher = more similar.
    """
    fn = 'similarity'
    if metric not in POSITIVENESS_METRICS:
        raise ValueError(f'{fn}: unknown `metric` {metric!r}; valid ones are '
                         f'{", ".join(POSITIVENESS_METRICS)}')
    _check_shape(fn, 'protos', protos, (None, None))
    n, e = protos.shape
    _check_shape(fn, 'neighbours', neighbours, (n, None, e))
    if metric == 'dot':
        return torch.einsum('ne,nke->nk', protos, neighbours)
    if metric == 'cosine':
        return torch.einsum('ne,nke->nk', F.normalize(protos, dim=1),
                            F.normalize(neighbours, dim=2))
    if metric == 'l1':
        return -(protos[:, None] - neighbours).abs().sum(dim=2)
    if metric == 'l2':
        sq = (protos[:, None] - neighbours).pow(2).sum(dim=2)
        # sqrt'(0) is infinite: identical vectors must not give NaN grads.
        return -torch.where(sq > 0, sq.clamp(min=1e-30).sqrt(),
                            torch.zeros_like(sq))
    sim = neighbours.new_zeros(neighbours.shape[:2])
    return sim + 0.0 * protos.sum()  # keep the graph; values unaffected


def _masked_softmax(fn: str, logits: Tensor, neighbours: Tensor,
                    neighbour_mask: Optional[Tensor]) -> Tensor:
    """Softmax over the real neighbours of each row (padding gets 0)."""
    if neighbour_mask is None:
        return logits.softmax(dim=1)
    _check_shape(fn, 'neighbour_mask', neighbour_mask, neighbours.shape[:2])
    mask = neighbour_mask.bool()
    logits = logits.masked_fill(~mask, float('-inf'))
    # A row without real neighbours: softmax of all -inf is NaN; use 0s.
    logits = torch.where(mask.any(dim=1, keepdim=True), logits,
                         torch.zeros_like(logits))
    return logits.softmax(dim=1) * mask.to(logits.dtype)


def standardised_positiveness(protos: Tensor,
                              neighbours: Tensor,
                              metric: str = 'dot',
                              temperature: float = 1.0,
                              *,
                              neighbour_mask: Optional[Tensor] = None,
                              eps: float = 1e-6) -> Tensor:
    """Positiveness with a temperature relative to the scores' own spread.

    ``w_k = softmax_k((s_k - mean_k s) / (temperature * std_k s + eps))``
    with ``s_k = sim(p, c_k)`` over the real neighbours of each row
    (population standard deviation). Method page §6.1 [choice]: the paper
    weighs neighbours "softly ... in a non-binary form" with "a scaling
    factor"; dividing by the spread makes the weights independent of the
    embedding's scale, so they are neither one-hot (raw dot products of
    unnormalised embeddings are in the thousands) nor uniform (dot products
    of unit vectors differ by a few hundredths). A row with one neighbour,
    or with equal scores, gets uniform weights.

    Args:
        protos (Tensor): ``(N, E)`` instance prototypes.
        neighbours (Tensor): ``(N, K, E)`` their neighbours.
        metric (str): See :func:`similarity`. Defaults to 'dot' [paper].
        temperature (float): Multiplier of the spread (> 0). Defaults to
            1.0 [choice].
        neighbour_mask (Tensor, optional): ``(N, K)`` bool, False for
            padding. Defaults to None (all real).
        eps (float): Added to the scaled spread. Defaults to 1e-6.

    Returns:
        Tensor: ``(N, K)`` weights summing to 1 over each row with a real
        neighbour.
    """
    fn = 'standardised_positiveness'
    if not temperature > 0:
        raise ValueError(
            f'{fn}: `temperature` must be > 0, but got {temperature}')
    sim = similarity(protos, neighbours, metric)
    real = sim.new_ones(sim.shape) if neighbour_mask is None else \
        neighbour_mask.to(sim.dtype)
    count = real.sum(dim=1, keepdim=True).clamp(min=1.0)
    mean = (sim * real).sum(dim=1, keepdim=True) / count
    var = ((sim - mean).pow(2) * real).sum(dim=1, keepdim=True) / count
    # sqrt'(0) is infinite: a row of equal scores must not give NaN grads.
    std = torch.where(var > 0, var.clamp(min=1e-30).sqrt(),
                      torch.zeros_like(var))
    logits = (sim - mean) / (temperature * std + eps)
    return _masked_softmax(fn, logits, neighbours, neighbour_mask)


def alignment_shift(protos: Tensor, neighbours: Tensor) -> Tensor:
    """Feature-distribution shift of one class in one mini-batch.

    ``delta = mean over all (n, k) of c_{n,k} - mean over n of p_n``
    (method page §7, our closed form of paper Eqs. 8-12).

    Args:
        protos (Tensor): ``(N, E)`` instance prototypes of one class.
        neighbours (Tensor): ``(N, K, E)`` their selected neighbours.

    Returns:
        Tensor: ``(E,)`` shift; zeros when ``N = 0`` or ``K = 0``.
    """
    fn = 'alignment_shift'
    _check_shape(fn, 'protos', protos, (None, None))
    n, e = protos.shape
    _check_shape(fn, 'neighbours', neighbours, (n, None, e))
    if n == 0 or neighbours.shape[1] == 0:
        return protos.new_zeros(e) + 0.0 * (protos.sum() + neighbours.sum())
    return neighbours.mean(dim=(0, 1)) - protos.mean(dim=0)


def alignment_shifts(protos: Tensor,
                     neighbours: Tensor,
                     mask: Tensor,
                     neighbour_mask: Optional[Tensor] = None) -> Tensor:
    """:func:`alignment_shift` of every class of a batch at once.

    For class ``c`` the instances are the images ``n`` with ``mask[n, c]``
    and their neighbours the ``k`` with ``neighbour_mask[n, c, k]``.

    Args:
        protos (Tensor): ``(B, C, E)`` instance prototypes.
        neighbours (Tensor): ``(B, C, K, E)`` their neighbours.
        mask (Tensor): ``(B, C)`` bool, which prototypes exist.
        neighbour_mask (Tensor, optional): ``(B, C, K)`` bool, which
            neighbours are real. Defaults to None (all).

    Returns:
        Tensor: ``(C, E)`` shifts; zero for a class without instances or
        neighbours.
    """
    fn = 'alignment_shifts'
    _check_shape(fn, 'protos', protos, (None, None, None))
    b, c, e = protos.shape
    _check_shape(fn, 'neighbours', neighbours, (b, c, None, e))
    _check_shape(fn, 'mask', mask, (b, c))
    k = neighbours.shape[2]
    inst = mask.bool()
    if neighbour_mask is None:
        nb = inst[..., None].expand(b, c, k)
    else:
        _check_shape(fn, 'neighbour_mask', neighbour_mask, (b, c, k))
        nb = neighbour_mask.bool() & inst[..., None]
    inst_f, nb_f = inst.to(protos.dtype), nb.to(protos.dtype)
    p_mean = (protos * inst_f[..., None]).sum(dim=0) / inst_f.sum(
        dim=0).clamp(min=1.0)[:, None]
    n_mean = (neighbours * nb_f[..., None]).sum(dim=(0, 2)) / nb_f.sum(
        dim=(0, 2)).clamp(min=1.0)[:, None]
    usable = (nb_f.sum(dim=(0, 2)) > 0).to(protos.dtype)[:, None]
    return (n_mean - p_mean) * usable


# --------------------------------------------------------------------------
# §8 prototype-aware CAM
# --------------------------------------------------------------------------
def pacam(embed: Tensor,
          neighbours: Tensor,
          weights: Tensor,
          labels: Tensor,
          shift: Optional[Tensor] = None,
          valid: Optional[Tensor] = None,
          *,
          mask: Optional[Tensor] = None,
          shift_region: Optional[Tensor] = None) -> Tensor:
    """Prototype-aware CAM (method page §8, paper Eq. 13).

    For each image ``b`` and active class ``c``:
    ``PACAM_c(x) = sum_k w_k ReLU(cos(z(x) + delta_c, n_k))``, divided by its
    spatial max over valid pixels (+1e-5). Inactive classes are 0;
    background ``1 - max_c PACAM_c``; all channels multiplied by ``valid``.
    A zero vector has cosine 0 with everything.

    Args:
        embed (Tensor): ``(B, E, h, w)`` pixel embeddings ``z``.
        neighbours (Tensor): ``(B, C, K, E)`` neighbours of each (image,
            class); padding neighbours need weight 0.
        weights (Tensor): ``(B, C, K)`` positiveness weights.
        labels (Tensor): ``(B, C)`` multi-hot labels.
        shift (Tensor, optional): ``(C, E)`` alignment shifts ``delta``.
            Defaults to None (no shift, ``align='none'``).
        valid (Tensor, optional): ``(B, 1, h, w)`` mask. Defaults to None.
        mask (Tensor, optional): ``(B, C)`` bool, the (image, class) pairs
            that have neighbours; a class is active when labelled and in
            ``mask``. Defaults to None (all labelled classes).
        shift_region (Tensor, optional): ``(B, C, h, w)`` bool, where the
            shift applies (``align='mask'``). Defaults to None (everywhere,
            ``align='pixels'``).

    Returns:
        Tensor: ``(B, C + 1, h, w)`` PACAM, channel 0 the background.
    """
    fg = pacam_foreground(embed, neighbours, weights, labels, shift, valid,
                          mask=mask, shift_region=shift_region)
    valid = _valid_or_ones('pacam', valid, embed)
    c = fg.shape[1]
    bg = 1.0 - fg.amax(dim=1, keepdim=True) if c > 0 else torch.ones_like(
        valid)
    return torch.cat([bg, fg], dim=1) * valid


def pacam_foreground(embed: Tensor,
                     neighbours: Tensor,
                     weights: Tensor,
                     labels: Tensor,
                     shift: Optional[Tensor] = None,
                     valid: Optional[Tensor] = None,
                     *,
                     mask: Optional[Tensor] = None,
                     shift_region: Optional[Tensor] = None) -> Tensor:
    """The foreground channels of :func:`pacam` (method page §8).

    ``PACAM_c(x) = sum_k w_k ReLU(cos(z(x) + delta_c, n_k))`` divided by its
    spatial max over valid pixels (+1e-5); inactive classes are 0. The
    arguments are those of :func:`pacam`.

    Returns:
        Tensor: ``(B, C, h, w)``, zero on padding.
    """
    fn = 'pacam'
    _check_shape(fn, 'embed', embed, (None, None, None, None))
    b, e, h, w = embed.shape
    _check_shape(fn, 'neighbours', neighbours, (b, None, None, e))
    c, k = neighbours.shape[1:3]
    _check_shape(fn, 'weights', weights, (b, c, k))
    _check_shape(fn, 'labels', labels, (b, c))
    valid = _valid_or_ones(fn, valid, embed)
    active = labels > 0
    if mask is not None:
        _check_shape(fn, 'mask', mask, (b, c))
        active = active & mask.bool()
    if shift is not None:
        _check_shape(fn, 'shift', shift, (c, e))
    if shift_region is not None:
        _check_shape(fn, 'shift_region', shift_region, (b, c, h, w))

    img, cls = active.nonzero(as_tuple=True)  # P active pairs
    z = embed.flatten(2)[img]  # (P, E, hw)
    if shift is not None:
        delta = shift[cls][..., None]  # (P, E, 1)
        if shift_region is not None:
            region = shift_region.flatten(2)[img, cls]  # (P, hw)
            delta = delta * (region > 0).to(z.dtype)[:, None]
        z = z + delta
    cos = torch.bmm(F.normalize(neighbours[img, cls], dim=2),
                    F.normalize(z, dim=1))  # (P, K, hw)
    maps = torch.einsum('pk,pkx->px', weights[img, cls], F.relu(cos))
    fg = embed.new_zeros(b, c, h * w).index_put((img, cls), maps)
    return _max_normalise(fg.view(b, c, h, w), valid)


# --------------------------------------------------------------------------
# §8.1 background prototype (SIPE)
# --------------------------------------------------------------------------
def sipe_seeds(cam: Tensor,
               feats: Tensor,
               labels: Tensor,
               valid: Optional[Tensor] = None,
               bg_factor: float = 0.5) -> Tensor:
    """SIPE's seed partition of each image into background and classes.

    Method page §8.1. For every pixel ``i`` and channel ``c`` (background
    included) the soft IoU between the pixel's feature-correlation row
    ``r_i(j) = ReLU(cos(f_i, f_j))`` and the CAM channel ``M_c``:
    ``IoU = sum_j r_i M_c / (sum_j r_i + sum_j M_c - sum_j r_i M_c)``; the
    background IoU is multiplied by ``bg_factor``; each pixel goes to the
    channel of largest IoU among the background and the image's classes.
    (Chen et al., "Self-supervised Image-specific Prototype Exploration",
    CVPR 2022: ``get_seed`` of chenqi1126/SIPE, ``network/resnet50_SIPE.py``;
    there the argmax runs over all channels and absent ones are zeroed
    afterwards, which leaves such pixels without a seed; here they go to the
    best present channel.) Padding pixels are in no seed and do not count
    in the sums.

    Args:
        cam (Tensor): ``(B, C + 1, h, w)`` normalised CAM ``M`` (channel 0
            the background).
        feats (Tensor): ``(B, D, h, w)`` features of the correlation (SIPE:
            the last backbone stage).
        labels (Tensor): ``(B, C)`` multi-hot labels.
        valid (Tensor, optional): ``(B, 1, h, w)`` mask. Defaults to None.
        bg_factor (float): Weight of the background IoU. Defaults to 0.5
            [SIPE].

    Returns:
        Tensor: ``(B, C + 1, h, w)`` bool one-hot seeds (all False on
        padding).
    """
    fn = 'sipe_seeds'
    _check_shape(fn, 'cam', cam, (None, None, None, None))
    b, c1, h, w = cam.shape
    _check_shape(fn, 'feats', feats, (b, None, h, w))
    _check_shape(fn, 'labels', labels, (b, c1 - 1))
    valid = _valid_or_ones(fn, valid, cam)
    f = F.normalize(feats.flatten(2), dim=1) * valid.flatten(2)  # (B, D, N)
    corr = F.relu(torch.bmm(f.transpose(1, 2), f))  # (B, N, N)
    m = (cam * valid).flatten(2)  # (B, C+1, N)
    inter = torch.einsum('bij,bcj->bci', corr, m)
    union = corr.sum(dim=2)[:, None] + m.sum(dim=2, keepdim=True) - inter
    iou = inter / union.clamp(min=1e-12)
    iou[:, 0] = iou[:, 0] * bg_factor
    allowed = torch.cat([labels.new_ones(b, 1), labels], dim=1) > 0
    iou = iou.masked_fill(~allowed[..., None], float('-inf'))
    seeds = F.one_hot(iou.argmax(dim=1), c1).permute(0, 2, 1).bool()
    return seeds.view(b, c1, h, w) & (valid > 0)


def prototype_map(embed: Tensor,
                  protos: Tensor,
                  present: Tensor,
                  valid: Optional[Tensor] = None) -> Tensor:
    """``ReLU(cos(z(x), p_n))`` of one prototype per image, max-normalised.

    SIPE's IS-CAM channel (``reactivate``), used for the background channel
    of PACAM (method page §8.1).

    Args:
        embed (Tensor): ``(B, E, h, w)`` pixel embeddings.
        protos (Tensor): ``(B, E)`` one prototype per image.
        present (Tensor): ``(B,)`` bool, images that have the prototype.
        valid (Tensor, optional): ``(B, 1, h, w)`` mask. Defaults to None.

    Returns:
        Tensor: ``(B, 1, h, w)``; zero for images without the prototype and
        on padding.
    """
    fn = 'prototype_map'
    _check_shape(fn, 'embed', embed, (None, None, None, None))
    b, e = embed.shape[:2]
    _check_shape(fn, 'protos', protos, (b, e))
    _check_shape(fn, 'present', present, (b, ))
    ones = present.new_ones(b, 1).to(embed.dtype)
    return pacam_foreground(embed, protos[:, None, None], ones[..., None],
                            present[:, None].to(embed.dtype), valid=valid)


# --------------------------------------------------------------------------
# §9 loss
# --------------------------------------------------------------------------
def self_supervised_loss(cam: Tensor,
                         pacam: Tensor,
                         valid: Optional[Tensor] = None,
                         channels: Optional[Tensor] = None) -> Tensor:
    """Mean absolute difference of CAM and PACAM (method page §9).

    The mean is over all (image, channel, pixel) triples whose pixel is
    valid and whose channel is selected.

    Args:
        cam (Tensor): ``(B, C + 1, h, w)`` normalised CAM ``M``.
        pacam (Tensor): ``(B, C + 1, h, w)`` PACAM.
        valid (Tensor, optional): ``(B, 1, h, w)`` mask. Defaults to None
            (all pixels valid).
        channels (Tensor, optional): ``(B, C + 1)`` bool, the channels of
            each image that count (``loss_channels='present'``). Defaults to
            None (all channels, ``'all'``).

    Returns:
        Tensor: Scalar loss. With nothing selected it is a zero still
        connected to ``cam`` and ``pacam`` (so DDP sees every parameter
        used), never NaN.
    """
    fn = 'self_supervised_loss'
    _check_shape(fn, 'cam', cam, (None, None, None, None))
    _check_shape(fn, 'pacam', pacam, tuple(cam.shape))
    valid = _valid_or_ones(fn, valid, cam)
    b, c1 = cam.shape[:2]
    if channels is None:
        sel = cam.new_ones(b, c1)
    else:
        _check_shape(fn, 'channels', channels, (b, c1))
        sel = channels.bool().to(cam.dtype)
    weight = valid * sel[..., None, None]  # (B, C+1, h, w)
    total = ((cam - pacam).abs() * weight).sum()
    return total / weight.sum().clamp(min=1.0)
