"""Diagnostics of a trained CPAL branch (``tools/diagnose_cpal.py``).

The figures of the CPAL fidelity review (section 3) measured on a trained
checkpoint instead of at initialisation:

- PACAM foreground-vs-background AUC next to the CAM's, and both maps'
  background channel on ground-truth background (H1);
- effective number of neighbours ``exp(H(w))`` of the positiveness weights
  and the norm of the top-weight centre against the class's median centre
  norm (H3);
- bank fill, cluster sizes and, on the demo data, sub-type purity / NMI of
  the context clusters (H4, S1, S2);
- precision / recall of the reliable masks ``M_c > tau`` (H6);
- the background channel's share of ``L_self`` and the gradients of
  ``L_self`` and ``L_cls`` at the backbone and the classifier (H1c, H8);
- with ``oracle=True``: instance prototypes from the ground-truth masks, and
  the argmax mIoU of PACAM (H1c).

The first part of this module holds small pure functions (each tested on
hand-made data); :func:`diagnose` runs a model over a set of images and
:func:`format_markdown` prints the report. Only the public interface of
:class:`~mmcpal.models.cpal.CPALBranch` is used: :meth:`compose`,
:meth:`loss` (through the host's own ``loss``), the buffers ``bank.bank``,
``bank.bank_count``, ``context``, ``context_count`` and ``tau``.

Usage::

    OMP_NUM_THREADS=1 python tools/diagnose_cpal.py CONFIG CHECKPOINT \\
        [--data-root DIR] [--split LIST] [--limit N] [--scale 320] \\
        [--oracle] [--attach-branch CPAL_CONFIG] [--grad-batch 4] \\
        [--out-json diag.json] [--out-md diag.md]

``--scale`` is the long side (pixels) each image is resized to (0 keeps the
image size). A model without a CPAL branch needs ``--attach-branch``: a
branch is built from that config's ``model.cpal`` (random head, empty bank,
i.e. warm-up fallback PACAM) for inference only; the report says so and the
gradient section is left out.
"""
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# ---------------------------------------------------------------------------
# pure functions
# ---------------------------------------------------------------------------


def rank_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve of ``pos`` against ``neg`` scores.

    The Mann-Whitney statistic with average ranks: the probability that a
    random positive scores above a random negative, ties counted one half.

    Args:
        pos (np.ndarray): Scores of the positives (any shape).
        neg (np.ndarray): Scores of the negatives (any shape).

    Returns:
        float: AUC in [0, 1]; NaN when either set is empty.
    """
    pos = np.asarray(pos, dtype=np.float64).ravel()
    neg = np.asarray(neg, dtype=np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        return float('nan')
    scores = np.concatenate([pos, neg])
    order = np.argsort(scores, kind='mergesort')
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # average rank (1-based) of each group of tied scores
    _, start, counts = np.unique(sorted_scores, return_index=True,
                                 return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    rank_sum = ranks[:pos.size].sum()
    u = rank_sum - pos.size * (pos.size + 1) / 2.0
    return float(u / (pos.size * neg.size))


class HistogramAUC:
    """Pooled AUC of scores in [0, 1] from two histograms (bounded memory).

    Scores are rounded to ``bins - 1`` equal steps of [0, 1] (values outside
    are clipped); scores in the same bin count as ties. For scores that are
    multiples of ``1 / (bins - 1)`` the value equals :func:`rank_auc`.

    Args:
        bins (int): Number of bins. Defaults to 2 ** 16.
    """

    def __init__(self, bins: int = 2**16) -> None:
        if bins < 2:
            raise ValueError(f'HistogramAUC: bins must be >= 2, got {bins}')
        self.bins = bins
        self.pos = np.zeros(bins, dtype=np.float64)
        self.neg = np.zeros(bins, dtype=np.float64)

    def _index(self, scores) -> np.ndarray:
        s = np.clip(np.asarray(scores, dtype=np.float64).ravel(), 0.0, 1.0)
        return np.rint(s * (self.bins - 1)).astype(np.int64)

    def update(self, pos, neg) -> None:
        """Add positive and negative scores.

        Args:
            pos: Positive scores (array-like, any shape).
            neg: Negative scores (array-like, any shape).
        """
        self.pos += np.bincount(self._index(pos), minlength=self.bins)
        self.neg += np.bincount(self._index(neg), minlength=self.bins)

    @property
    def counts(self) -> Tuple[int, int]:
        """Numbers of positives and negatives seen."""
        return int(self.pos.sum()), int(self.neg.sum())

    def value(self) -> float:
        """The AUC; NaN when either set is empty."""
        n_pos, n_neg = self.pos.sum(), self.neg.sum()
        if n_pos == 0 or n_neg == 0:
            return float('nan')
        below = np.cumsum(self.neg) - self.neg  # negatives strictly below
        return float((self.pos * (below + 0.5 * self.neg)).sum() /
                     (n_pos * n_neg))


def effective_neighbours(weights: Tensor) -> Tensor:
    """``exp(H(w))`` of weight vectors over the last dimension.

    Zero entries (padding) contribute nothing (``0 log 0 = 0``). Each row is
    renormalised to sum 1 first; an all-zero row gives NaN.

    Args:
        weights (Tensor): ``(..., K)`` non-negative weights.

    Returns:
        Tensor: ``(...)`` effective number of neighbours, in [1, K].
    """
    w = weights.double()
    total = w.sum(dim=-1, keepdim=True)
    p = w / total
    logp = torch.where(p > 0, p.log(), torch.zeros_like(p))
    ent = -(p * logp).sum(dim=-1)
    out = ent.exp()
    return torch.where(total[..., 0] > 0, out,
                       torch.full_like(out, float('nan')))


def assign_by_cosine(x: Tensor, centres: Tensor) -> Tensor:
    """Index of the most cosine-similar centre of each row.

    Args:
        x (Tensor): ``(N, E)`` vectors.
        centres (Tensor): ``(k, E)`` centres, ``k >= 1``.

    Returns:
        Tensor: ``(N,)`` long in ``0..k-1``.
    """
    if centres.shape[0] == 0:
        raise ValueError('assign_by_cosine: no centres')
    sim = F.normalize(x.float(), dim=1) @ F.normalize(centres.float(),
                                                      dim=1).t()
    return sim.argmax(dim=1)


def cluster_sizes(x: Tensor, centres: Tensor) -> List[int]:
    """Sizes of the clusters of ``x`` around ``centres`` (by cosine).

    Args:
        x (Tensor): ``(N, E)`` entries.
        centres (Tensor): ``(k, E)`` centres.

    Returns:
        list[int]: ``k`` counts, largest first.
    """
    idx = assign_by_cosine(x, centres)
    counts = torch.bincount(idx, minlength=centres.shape[0])
    return sorted(counts.tolist(), reverse=True)


def _contingency(clusters: Sequence, labels: Sequence) -> np.ndarray:
    clusters = list(clusters)
    labels = list(labels)
    if len(clusters) != len(labels):
        raise ValueError(f'{len(clusters)} cluster ids but {len(labels)} '
                         'labels')
    ci = {c: i for i, c in enumerate(sorted(set(clusters), key=str))}
    li = {c: i for i, c in enumerate(sorted(set(labels), key=str))}
    table = np.zeros((len(ci), len(li)), dtype=np.float64)
    for c, lab in zip(clusters, labels):
        table[ci[c], li[lab]] += 1
    return table


def purity(clusters: Sequence, labels: Sequence) -> float:
    """Share of items whose label is their cluster's majority label.

    Args:
        clusters (Sequence): Cluster id per item (hashable).
        labels (Sequence): True label per item (hashable).

    Returns:
        float: Purity in (0, 1]; NaN for no items.
    """
    if len(clusters) == 0:
        return float('nan')
    table = _contingency(clusters, labels)
    return float(table.max(axis=1).sum() / table.sum())


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def nmi(clusters: Sequence, labels: Sequence) -> float:
    """Normalised mutual information, ``I / mean(H(clusters), H(labels))``.

    The arithmetic-mean normalisation. When both partitions are a single
    group the value is 1; when exactly one is, 0.

    Args:
        clusters (Sequence): Cluster id per item.
        labels (Sequence): True label per item.

    Returns:
        float: NMI in [0, 1]; NaN for no items.
    """
    if len(clusters) == 0:
        return float('nan')
    table = _contingency(clusters, labels)
    n = table.sum()
    h_c = _entropy(table.sum(axis=1))
    h_l = _entropy(table.sum(axis=0))
    if h_c == 0 and h_l == 0:
        return 1.0
    if h_c == 0 or h_l == 0:
        return 0.0
    pc = table.sum(axis=1, keepdims=True) / n
    pl = table.sum(axis=0, keepdims=True) / n
    pj = table / n
    nz = pj > 0
    mi = float((pj[nz] * np.log(pj[nz] / (pc @ pl)[nz])).sum())
    return max(0.0, min(1.0, mi / (0.5 * (h_c + h_l))))


def mask_counts(pred: np.ndarray,
                gt: np.ndarray,
                ignore: Optional[np.ndarray] = None) -> Tuple[int, int, int]:
    """True positives, false positives and false negatives of a mask.

    Args:
        pred (np.ndarray): Boolean predicted mask.
        gt (np.ndarray): Boolean ground-truth mask, same shape.
        ignore (np.ndarray, optional): Boolean mask of pixels left out.

    Returns:
        tuple[int, int, int]: ``(tp, fp, fn)``.
    """
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f'mask_counts: shapes {pred.shape} and {gt.shape} '
                         'differ')
    if ignore is not None:
        keep = ~np.asarray(ignore, dtype=bool)
        pred, gt = pred[keep], gt[keep]
    tp = int((pred & gt).sum())
    return tp, int((pred & ~gt).sum()), int((~pred & gt).sum())


def precision_recall(tp: int, fp: int, fn: int) -> Tuple[float, float]:
    """Precision ``tp / (tp + fp)`` and recall ``tp / (tp + fn)`` (0/0 NaN)."""
    p = tp / (tp + fp) if tp + fp > 0 else float('nan')
    r = tp / (tp + fn) if tp + fn > 0 else float('nan')
    return float(p), float(r)


def l1_terms(cam: Tensor,
             pacam: Tensor,
             valid: Optional[Tensor] = None,
             channels: Optional[Tensor] = None) -> Tuple[float, float]:
    """Numerator of ``L_self`` split into background and total.

    ``sum |M - P| * valid * sel`` over the background channel and over all
    selected channels (the common denominator of ``L_self`` cancels in the
    share).

    Args:
        cam (Tensor): ``(B, C+1, h, w)`` normalised CAM ``M``.
        pacam (Tensor): ``(B, C+1, h, w)`` PACAM ``P``.
        valid (Tensor, optional): ``(B, 1, h, w)`` valid cells.
        channels (Tensor, optional): ``(B, C+1)`` bool, the channels in the
            loss; None = all.

    Returns:
        tuple[float, float]: ``(background, total)``.
    """
    diff = (cam.detach().double() - pacam.detach().double()).abs()
    if valid is not None:
        diff = diff * valid.double()
    if channels is not None:
        diff = diff * channels.double()[:, :, None, None]
    return float(diff[:, 0].sum()), float(diff.sum())


def background_share(cam: Tensor,
                     pacam: Tensor,
                     valid: Optional[Tensor] = None,
                     channels: Optional[Tensor] = None) -> float:
    """Share of ``L_self`` that comes from the background channel.

    For one image with one class and ``M_0 = 1 - M_c``, ``P_0 = 1 - P_c``
    the background term equals the foreground term, so the share is 0.5.

    Args:
        cam, pacam, valid, channels: As in :func:`l1_terms`.

    Returns:
        float: In [0, 1]; NaN when the loss is 0.
    """
    bg, total = l1_terms(cam, pacam, valid, channels)
    return bg / total if total > 0 else float('nan')


def gradient_stats(loss_a: Tensor,
                   loss_b: Tensor,
                   groups: Dict[str, Sequence[torch.nn.Parameter]],
                   names: Tuple[str, str] = ('a', 'b')) -> Dict[str, Dict]:
    """Gradient norms of two losses per parameter group, and their cosine.

    Uses :func:`torch.autograd.grad` (``.grad`` is not touched); parameters
    a loss does not reach get a zero gradient.

    Args:
        loss_a (Tensor): First scalar loss.
        loss_b (Tensor): Second scalar loss (same graph allowed).
        groups (dict[str, Sequence[Parameter]]): Named parameter groups.
        names (tuple[str, str]): Names of the two losses in the result.

    Returns:
        dict: Per group ``{f'{a}_norm', f'{b}_norm', 'cosine'}`` (cosine NaN
        when a norm is 0).
    """
    params = []
    spans = {}
    for name, ps in groups.items():
        ps = [p for p in ps if p.requires_grad]
        spans[name] = (len(params), len(params) + len(ps))
        params.extend(ps)

    def grads(loss: Tensor) -> List[Tensor]:
        if not loss.requires_grad:
            return [torch.zeros_like(p) for p in params]
        gs = torch.autograd.grad(loss, params, retain_graph=True,
                                 allow_unused=True)
        return [torch.zeros_like(p) if g is None else g
                for p, g in zip(params, gs)]

    ga, gb = grads(loss_a), grads(loss_b)
    out = {}
    for name, (lo, hi) in spans.items():
        if hi == lo:
            va = vb = torch.zeros(1, dtype=torch.float64)
        else:
            va = torch.cat([g.reshape(-1).double() for g in ga[lo:hi]])
            vb = torch.cat([g.reshape(-1).double() for g in gb[lo:hi]])
        na, nb = float(va.norm()), float(vb.norm())
        cos = float(va @ vb) / (na * nb) if na > 0 and nb > 0 else float(
            'nan')
        out[name] = {f'{names[0]}_norm': na, f'{names[1]}_norm': nb,
                     'cosine': cos}
    return out


def weighted_prototypes(embed: Tensor, weights: Tensor) -> Tensor:
    """Weighted mean embeddings, one per weight map.

    Args:
        embed (Tensor): ``(E, h, w)`` embeddings.
        weights (Tensor): ``(N, h, w)`` non-negative weights.

    Returns:
        Tensor: ``(N, E)``; rows of all-zero weights are zero.
    """
    w = weights.reshape(weights.shape[0], -1).to(embed.dtype)
    z = embed.reshape(embed.shape[0], -1)
    total = w.sum(dim=1, keepdim=True)
    return (w @ z.t()) / total.clamp_min(1e-12)


def argmax_segmentation(maps: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Argmax over the background and the image's classes.

    Args:
        maps (np.ndarray): ``(C+1, H, W)`` scores, channel 0 background.
        labels (np.ndarray): ``(C,)`` multi-hot image label.

    Returns:
        np.ndarray: ``(H, W)`` int64 in 0..C.
    """
    keep = np.concatenate([[True], np.asarray(labels) > 0.5])
    scores = np.where(keep[:, None, None], maps, -np.inf)
    return scores.argmax(axis=0).astype(np.int64)


def _nanmean(values) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(values)) if values else float('nan')


# ---------------------------------------------------------------------------
# hosts
# ---------------------------------------------------------------------------


def host_maps(model: torch.nn.Module, inputs: Tensor,
              labels: Tensor) -> Tuple[Tuple[Tensor, ...], Tensor]:
    """The backbone features and raw CAM a host passes to its CPAL branch.

    Reproduces the calls of ``CAMClassifier.loss`` (features, 1x1 CAM) and
    ``AMN.loss`` (features before conditioning; foreground softmax or logits
    as chosen by ``cpal_cams``).

    Args:
        model (nn.Module): ``CAMClassifier`` or ``AMN``.
        inputs (Tensor): ``(B, 3, H, W)`` preprocessed images.
        labels (Tensor): ``(B, C)`` multi-hot labels.

    Returns:
        tuple: ``feats`` (tuple of maps) and ``cams`` ``(B, C, h, w)``.
    """
    feats = model.extract_feat(inputs)
    if hasattr(model, 'logits_from_feats'):  # AMN
        logits = model.logits_from_feats(feats, labels.float())
        if getattr(model, 'cpal_cams', 'prob') == 'prob':
            return feats, logits.softmax(dim=1)[:, 1:]
        return feats, logits[:, 1:]
    if hasattr(model, 'cam_from_feats'):  # CAMClassifier
        return feats, model.cam_from_feats(feats)
    raise TypeError(f'{type(model).__name__} is not a supported CPAL host '
                    '(CAMClassifier or AMN)')


def _host_cls_loss(losses: Dict[str, Tensor]) -> Tuple[str, Tensor]:
    for key in ('loss_cls', 'loss_pcl'):
        if key in losses:
            return key, losses[key]
    raise KeyError(f'no classification loss among {sorted(losses)}')


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------


def _resize_hw(h: int, w: int, long_side: int) -> Tuple[int, int]:
    if not long_side:
        return h, w
    s = long_side / max(h, w)
    return max(1, int(round(h * s))), max(1, int(round(w * s)))


def _load_pair(record, long_side: int) -> Tuple[np.ndarray, np.ndarray, float,
                                                 float]:
    import cv2

    from mmcpal.evaluation.label_io import read_label_png
    from mmcpal.pseudo.jobs import load_image_checked
    img = load_image_checked(record.img_path)
    gt = read_label_png(record.gt_path)
    if gt.shape != img.shape[:2]:
        raise ValueError(f'{record.img_id}: mask {gt.shape} and image '
                         f'{img.shape[:2]} differ in size')
    h, w = img.shape[:2]
    nh, nw = _resize_hw(h, w, long_side)
    if (nh, nw) != (h, w):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        gt = cv2.resize(gt.astype(np.uint8), (nw, nh),
                        interpolation=cv2.INTER_NEAREST).astype(np.int64)
    return img, gt, nh / h, nw / w


def _to_input(model, img: np.ndarray) -> Tensor:
    from mmcpal.pseudo.multiscale import preprocess
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
    return preprocess(model, x)


def _gt_fraction(gt: np.ndarray, num_classes: int, grid: Tuple[int, int],
                 labels: np.ndarray) -> Tensor:
    """``(1, C, h, w)`` share of each cell covered by each present class."""
    t = torch.from_numpy(gt)
    onehot = torch.stack([(t == c + 1).float() for c in range(num_classes)])
    onehot = onehot * torch.as_tensor(labels > 0.5).float()[:, None, None]
    return F.adaptive_avg_pool2d(onehot[None], grid)


def load_scenes(data_root: str) -> Optional[Dict[str, dict]]:
    """The demo set's per-image object records (``scenes.jsonl``), or None."""
    path = osp.join(data_root, 'scenes.jsonl')
    if not osp.isfile(path):
        return None
    scenes = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                scenes[rec['id']] = rec
    return scenes


class _Acc:
    """Accumulators of the per-image figures."""

    def __init__(self, num_classes: int) -> None:
        self.auc = {'cam': HistogramAUC(), 'pacam': HistogramAUC()}
        self.bg_sum = {'cam': 0.0, 'pacam': 0.0}
        self.bg_n = 0
        self.fg_sum = {'cam': 0.0, 'pacam': 0.0}
        self.fg_n = 0
        self.rel = np.zeros((num_classes, 3), dtype=np.int64)  # tp fp fn
        self.conf = {'cam': None, 'pacam': None}
        self.eff: List[float] = []
        self.chosen_ratio: List[float] = []
        self.chosen_norm: List[float] = []
        self.chosen_rank: List[int] = []
        self.median_norm: List[float] = []
        self.fallback_pairs = 0
        self.present_pairs = 0
        self.no_pacam_pairs = 0
        self.l1_bg = 0.0
        self.l1_total = 0.0
        self.objects: Dict[int, List[Tuple[int, str]]] = {}
        self.objects_skipped = 0


def _neighbour_stats(acc: _Acc, out: Dict[str, Tensor], branch) -> None:
    ctx_count = branch.context_count
    use = out['use'][0]
    acc.present_pairs += int(out['labels'][0].sum())
    acc.no_pacam_pairs += int((out['labels'][0] & ~use).sum())
    for c in use.nonzero()[:, 0].tolist():
        count = int(ctx_count[c])
        if count == 0:
            acc.fallback_pairs += 1
            continue
        w = out['weights'][0, c]
        acc.eff.append(float(effective_neighbours(w)))
        top = int(w.argmax())
        norm = float(out['neighbours'][0, c, top].norm())
        med = float(branch.context[c, :count].norm(dim=1).median())
        acc.chosen_norm.append(norm)
        acc.median_norm.append(med)
        acc.chosen_rank.append(top)
        if med > 0:
            acc.chosen_ratio.append(norm / med)


def _object_stats(acc: _Acc, out: Dict[str, Tensor], branch, scene: dict,
                  gt: np.ndarray, sy: float, sx: float, oracle: bool) -> None:
    grid = tuple(out['embed'].shape[-2:])
    h, w = gt.shape
    masks, classes, subtypes = [], [], []
    for obj in scene.get('objects', []):
        c = int(obj['class_id'])
        x0, y0, x1, y1 = obj['bbox']
        box = np.zeros((h, w), dtype=np.float32)
        box[int(math.floor(y0 * sy)):int(math.ceil(y1 * sy)) + 1,
            int(math.floor(x0 * sx)):int(math.ceil(x1 * sx)) + 1] = 1
        if oracle:
            m = box * (gt == c)
            cell = F.adaptive_avg_pool2d(torch.from_numpy(m)[None, None],
                                         grid)[0, 0]
        else:
            cell = F.adaptive_avg_pool2d(torch.from_numpy(box)[None, None],
                                         grid)[0, 0]
            cell = cell * (out['cam'][0, c] > branch.tau).float()
        count = int(branch.context_count[c - 1])
        if cell.sum() <= 0 or count == 0:
            acc.objects_skipped += 1
            continue
        masks.append(cell)
        classes.append(c)
        subtypes.append(str(obj['subtype']))
    if not masks:
        return
    protos = weighted_prototypes(out['embed'][0], torch.stack(masks))
    for p, c, s in zip(protos, classes, subtypes):
        count = int(branch.context_count[c - 1])
        k = int(assign_by_cosine(p[None], branch.context[c - 1, :count])[0])
        acc.objects.setdefault(c - 1, []).append((k, s))


def _image_stats(acc: _Acc, model, branch, record, long_side: int,
                 oracle: bool, scenes: Optional[Dict[str, dict]],
                 num_classes: int) -> None:
    from mmcpal.evaluation.confusion import confusion_matrix
    img, gt, sy, sx = _load_pair(record, long_side)
    labels_np = np.asarray(record.label, dtype=np.float32)
    device = next(model.parameters()).device
    inputs = _to_input(model, img).to(device)
    labels = torch.from_numpy(labels_np)[None].to(device)
    with torch.no_grad():
        feats, cams = host_maps(model, inputs, labels)
        real = branch.compose(feats, cams, labels, None)
        out = real
        if oracle:
            frac = _gt_fraction(gt, num_classes, tuple(cams.shape[-2:]),
                                labels_np).to(cams)
            out = branch.compose(feats, frac, labels, None)
    hw = gt.shape
    maps = {
        'cam': F.interpolate(real['cam'].float(), size=hw, mode='bilinear',
                             align_corners=False)[0].cpu().numpy(),
        'pacam': F.interpolate(out['pacam'].float(), size=hw,
                               mode='bilinear',
                               align_corners=False)[0].cpu().numpy(),
    }
    bg = gt == 0
    ignore = gt == 255
    present = np.nonzero(labels_np > 0.5)[0]
    for key, m in maps.items():
        acc.bg_sum[key] += float(m[0][bg].sum())
        for c in present:
            fg = gt == c + 1
            acc.auc[key].update(m[c + 1][fg], m[c + 1][bg])
            acc.fg_sum[key] += float(m[c + 1][fg].sum())
        seg = argmax_segmentation(m, labels_np)
        conf = confusion_matrix(seg, gt, num_classes, name=record.img_id)
        acc.conf[key] = conf if acc.conf[key] is None else acc.conf[key] + conf
    acc.bg_n += int(bg.sum())
    acc.fg_n += int(sum((gt == c + 1).sum() for c in present))
    for c in present:
        tp, fp, fn = mask_counts(maps['cam'][c + 1] > branch.tau, gt == c + 1,
                                 ignore)
        acc.rel[c] += (tp, fp, fn)
    _neighbour_stats(acc, out, branch)
    channels = torch.cat([torch.ones_like(out['use'][:, :1]), out['use']],
                         dim=1)
    b, t = l1_terms(real['cam'], out['pacam'], None, channels)
    acc.l1_bg += b
    acc.l1_total += t
    if scenes is not None and record.img_id in scenes:
        _object_stats(acc, out, branch, scenes[record.img_id], gt, sy, sx,
                      oracle)


def _snapshot(model: torch.nn.Module) -> Dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def gradient_section(model: torch.nn.Module, records: Sequence,
                     long_side: int, batch: int) -> Dict:
    """One training-mode batch: gradients of ``L_self`` and ``L_cls``.

    The images are resized to a ``long_side`` square (320 when 0) and run
    through the host's own ``loss`` in training mode; the gradients are
    taken with :func:`torch.autograd.grad`, no optimiser steps, and every
    parameter and buffer (bank, counters, BatchNorm statistics) is restored
    afterwards.

    Args:
        model (nn.Module): The host with its branch at ``model.cpal``.
        records (Sequence): Image records (labels, image paths).
        long_side (int): Side of the square batch images.
        batch (int): Number of images.

    Returns:
        dict: ``images``, ``size``, losses, the background share of the
        batch's ``L_self``, and per group (``backbone``, ``classifier``)
        the norms and cosine; or ``skipped`` with the reason when the
        host's loss cannot run on image labels alone (AMN trains on IR
        labels, which the diagnostics do not have).
    """
    import cv2

    from mmcpal.pseudo.jobs import load_image_checked
    from mmcpal.structures import WSSSDataSample
    side = long_side or 320
    chosen = [r for r in records if np.asarray(r.label).sum() > 0][:batch]
    if not chosen:
        return {'skipped': 'no labelled image'}
    device = next(model.parameters()).device
    imgs = [
        cv2.resize(load_image_checked(r.img_path), (side, side),
                   interpolation=cv2.INTER_LINEAR) for r in chosen
    ]
    x = torch.from_numpy(np.stack(imgs).transpose(0, 3, 1, 2).copy())
    from mmcpal.pseudo.multiscale import preprocess
    inputs = preprocess(model, x).to(device)
    samples = []
    for r in chosen:
        s = WSSSDataSample()
        s.gt_label = torch.as_tensor(np.asarray(r.label, np.float32),
                                     device=device)
        samples.append(s)
    labels = torch.stack([s.gt_label for s in samples])
    state = _snapshot(model)
    was_training = model.training
    branch = model.cpal
    try:
        model.train()
        with torch.enable_grad():
            with torch.no_grad():
                feats, cams = host_maps(model, inputs, labels)
                out = branch.compose(feats, cams, labels, None)
            channels = torch.cat(
                [torch.ones_like(out['use'][:, :1]), out['use']], dim=1)
            share = background_share(out['cam'], out['pacam'], None,
                                     channels)
            try:
                losses = model.loss(inputs, samples)
            except ValueError as err:  # e.g. AMN without its IR labels
                first = (str(err).strip().splitlines() or [''])[0]
                return {'skipped': first}
            cls_key, loss_cls = _host_cls_loss(losses)
            loss_self = losses['loss_self']
            groups = {
                'backbone': list(model.backbone.parameters()),
                'classifier': list(model.classifier.parameters()),
            }
            stats = gradient_stats(loss_self, loss_cls, groups,
                                   names=('self', 'cls'))
            result = dict(images=len(chosen), size=[side, side],
                          cls_loss=cls_key,
                          loss_self=float(loss_self.detach()),
                          loss_cls=float(loss_cls.detach()),
                          bg_share=share, **stats)
    finally:
        model.load_state_dict(state)
        model.train(was_training)
    return result


def bank_section(branch) -> Dict:
    """Bank fill per class and the sizes of its clusters.

    Each class's bank entries are assigned to their most cosine-similar
    context prototype.

    Args:
        branch (CPALBranch): The branch.

    Returns:
        dict: ``capacity``, per class ``count``, ``fill``, ``clusters``
        (number of context prototypes) and ``sizes`` (largest first).
    """
    bank, counts = branch.bank.bank, branch.bank.bank_count
    capacity = int(bank.shape[1])
    per_class = []
    for c in range(bank.shape[0]):
        n, k = int(counts[c]), int(branch.context_count[c])
        sizes = []
        if n > 0 and k > 0:
            sizes = cluster_sizes(bank[c, :n], branch.context[c, :k])
        per_class.append(dict(count=n, fill=n / capacity, clusters=k,
                              sizes=sizes,
                              singletons=sum(1 for s in sizes if s == 1),
                              empty=sum(1 for s in sizes if s == 0)))
    return dict(capacity=capacity, per_class=per_class,
                mean_fill=float(np.mean([p['fill'] for p in per_class])),
                classes_clustered=sum(1 for p in per_class
                                      if p['clusters'] > 0))


def diagnose(model: torch.nn.Module,
             records: Sequence,
             class_names: Sequence[str],
             *,
             long_side: int = 320,
             oracle: bool = False,
             scenes: Optional[Dict[str, dict]] = None,
             grad_batch: int = 4,
             progress: bool = False) -> Dict:
    """Run every diagnostic of a host with a CPAL branch at ``model.cpal``.

    Args:
        model (nn.Module): ``CAMClassifier`` or ``AMN`` with ``model.cpal``,
            in eval mode.
        records (Sequence): Image records with ``img_id``, ``img_path``,
            ``label`` and ``gt_path`` (:func:`mmcpal.apis.pseudo.image_records`).
        class_names (Sequence[str]): The ``C`` foreground class names.
        long_side (int): Inference long side in pixels; 0 keeps the size.
        oracle (bool): Instance prototypes (PACAM, neighbours, object
            prototypes) from the ground-truth masks instead of the CAM.
        scenes (dict, optional): Demo-set object records by image id; gives
            the sub-type purity / NMI.
        grad_batch (int): Images of the training-mode batch; 0 skips it.
        progress (bool): Print one line per 50 images.

    Returns:
        dict: The report (see :func:`format_markdown`).
    """
    from mmcpal.evaluation.confusion import segmentation_scores
    branch = model.cpal
    if branch is None:
        raise ValueError('the model has no CPAL branch (model.cpal is None)')
    num_classes = len(class_names)
    bank_before = (branch.bank.bank.clone(), branch.bank.bank_count.clone())
    acc = _Acc(num_classes)
    model.eval()
    for i, record in enumerate(records):
        _image_stats(acc, model, branch, record, long_side, oracle, scenes,
                     num_classes)
        if progress and (i + 1) % 50 == 0:
            print(f'diagnose_cpal: {i + 1}/{len(records)} images', flush=True)

    names = ['background'] + list(class_names)
    report: Dict = {}
    report['separation'] = {
        key: dict(auc=acc.auc[key].value(),
                  bg_channel_on_gt_bg=acc.bg_sum[key] / max(acc.bg_n, 1),
                  fg_channel_on_gt_fg=acc.fg_sum[key] / max(acc.fg_n, 1),
                  argmax_miou=float(segmentation_scores(
                      acc.conf[key], class_names=names)['miou'])
                  if acc.conf[key] is not None else float('nan'))
        for key in ('cam', 'pacam')
    }
    report['separation']['pixels'] = dict(fg=acc.auc['cam'].counts[0],
                                          bg=acc.auc['cam'].counts[1])
    report['neighbours'] = dict(
        pairs_present=acc.present_pairs,
        pairs_without_pacam=acc.no_pacam_pairs,
        pairs_fallback=acc.fallback_pairs,
        pairs_with_context=len(acc.eff),
        effective_neighbours=_nanmean(acc.eff),
        chosen_norm=_nanmean(acc.chosen_norm),
        median_centre_norm=_nanmean(acc.median_norm),
        chosen_over_median=_nanmean(acc.chosen_ratio),
        chosen_cosine_rank=_nanmean([float(r) for r in acc.chosen_rank]))
    per_class = []
    for c in range(num_classes):
        tp, fp, fn = (int(v) for v in acc.rel[c])
        p, r = precision_recall(tp, fp, fn)
        per_class.append(dict(cls=class_names[c], precision=p, recall=r,
                              tp=tp, fp=fp, fn=fn))
    tp, fp, fn = (int(v) for v in acc.rel.sum(axis=0))
    p, r = precision_recall(tp, fp, fn)
    report['reliable_masks'] = dict(tau=float(branch.tau), precision=p,
                                    recall=r, per_class=per_class)
    report['loss_self'] = dict(
        bg_share=acc.l1_bg / acc.l1_total if acc.l1_total > 0 else float(
            'nan'))
    report['bank'] = bank_section(branch)
    for c, entry in enumerate(report['bank']['per_class']):
        entry['cls'] = class_names[c]
    if scenes is not None:
        rows, clus, subs, weights = [], [], [], []
        for c, items in sorted(acc.objects.items()):
            ks = [k for k, _ in items]
            ss = [s for _, s in items]
            counts = np.unique(ss, return_counts=True)[1]
            rows.append(dict(cls=class_names[c], objects=len(items),
                             purity=purity(ks, ss), nmi=nmi(ks, ss),
                             majority=float(counts.max() / counts.sum())))
            clus.append(ks)
            subs.append(ss)
            weights.append(len(items))
        total = sum(weights)

        def wmean(key: str) -> float:
            vals = [(r[key], r['objects']) for r in rows
                    if not math.isnan(r[key])]
            n = sum(w for _, w in vals)
            return sum(v * w for v, w in vals) / n if n else float('nan')

        report['subtypes'] = dict(
            mask='ground truth in the object box' if oracle else
            f'reliable mask (M_c > {branch.tau}) in the object box',
            objects=total, objects_skipped=acc.objects_skipped,
            purity=wmean('purity'), nmi=wmean('nmi'),
            majority=wmean('majority'), per_class=rows)
    if grad_batch > 0:
        report['gradients'] = gradient_section(model, records, long_side,
                                               grad_batch)
    model.eval()
    report['bank_unchanged'] = bool(
        torch.equal(bank_before[0], branch.bank.bank)
        and torch.equal(bank_before[1], branch.bank.bank_count))
    return report


# ---------------------------------------------------------------------------
# markdown
# ---------------------------------------------------------------------------


def _f(v, digits: int = 3) -> str:
    if v is None:
        return '–'
    if isinstance(v, float):
        if math.isnan(v):
            return 'n/a'
        return f'{v:.{digits}f}'
    return str(v)


def format_markdown(report: Dict) -> str:
    """The report as markdown: protocol, then one table per figure group.

    Args:
        report (dict): :func:`diagnose`'s result with a ``protocol`` entry
            added by the caller.

    Returns:
        str: Markdown text.
    """
    lines = ['# CPAL diagnostics', '']
    proto = report.get('protocol', {})
    if proto:
        lines += ['| protocol | |', '|---|---|']
        lines += [f'| {k} | {v} |' for k, v in proto.items()]
        lines.append('')
    sep = report['separation']
    lines += [
        '## Foreground vs background (per present class, pooled pixels)', '',
        '| map | AUC fg vs bg | fg channel on GT fg | bg channel on GT bg '
        '| argmax mIoU (%) |', '|---|---|---|---|---|'
    ]
    for key in ('cam', 'pacam'):
        s = sep[key]
        lines.append(f"| {key.upper()} | {_f(s['auc'])} | "
                     f"{_f(s['fg_channel_on_gt_fg'])} | "
                     f"{_f(s['bg_channel_on_gt_bg'])} | "
                     f"{_f(s['argmax_miou'] * 100, 1)} |")
    lines += ['', f"pixels: {sep['pixels']['fg']} fg, {sep['pixels']['bg']} "
              'bg (bg counted once per present class)', '']
    nb = report['neighbours']
    lines += ['## Neighbours and positiveness', '', '| quantity | value |',
              '|---|---|']
    lines += [f'| {k} | {_f(v)} |' for k, v in nb.items()]
    rel = report['reliable_masks']
    lines += ['', f"## Reliable masks M_c > {rel['tau']} against GT", '',
              f"pooled precision {_f(rel['precision'])}, recall "
              f"{_f(rel['recall'])}", '', '| class | precision | recall |',
              '|---|---|---|']
    lines += [f"| {r['cls']} | {_f(r['precision'])} | {_f(r['recall'])} |"
              for r in rel['per_class'] if r['tp'] + r['fn'] + r['fp'] > 0]
    bank = report['bank']
    lines += ['', f"## Bank (capacity {bank['capacity']}, mean fill "
              f"{_f(bank['mean_fill'])}, {bank['classes_clustered']} classes "
              'clustered)', '',
              '| class | count | fill | clusters | sizes | singletons |',
              '|---|---|---|---|---|---|']
    for r in bank['per_class']:
        sizes = ' '.join(str(s) for s in r['sizes'][:12])
        if len(r['sizes']) > 12:
            sizes += ' …'
        lines.append(f"| {r['cls']} | {r['count']} | {_f(r['fill'])} | "
                     f"{r['clusters']} | {sizes} | {r['singletons']} |")
    if 'subtypes' in report:
        st = report['subtypes']
        lines += ['', '## Context clusters against demo sub-types', '',
                  f"per-object prototypes: {st['mask']}; {st['objects']} "
                  f"objects ({st['objects_skipped']} skipped: empty mask or "
                  'class not clustered); each assigned to its nearest context '
                  'prototype by cosine', '',
                  '| class | objects | purity | NMI | majority share '
                  '(purity of one cluster) |', '|---|---|---|---|---|']
        lines += [f"| {r['cls']} | {r['objects']} | {_f(r['purity'])} | "
                  f"{_f(r['nmi'])} | {_f(r['majority'])} |"
                  for r in st['per_class']]
        lines.append(f"| **all (object-weighted)** | {st['objects']} | "
                     f"{_f(st['purity'])} | {_f(st['nmi'])} | "
                     f"{_f(st['majority'])} |")
    lines += ['', '## L_self', '',
              f"background share of L_self (evaluated images): "
              f"{_f(report['loss_self']['bg_share'])}"]
    grads = report.get('gradients')
    if grads and 'skipped' not in grads:
        lines += [
            f"background share of L_self (training batch): "
            f"{_f(grads['bg_share'])}", '',
            f"one training-mode batch of {grads['images']} images at "
            f"{grads['size'][0]}x{grads['size'][1]}: L_self "
            f"{_f(grads['loss_self'], 4)}, {grads['cls_loss']} "
            f"{_f(grads['loss_cls'], 4)} (no optimiser step; state restored)",
            '', '| parameters | ‖∇L_self‖ | ‖∇L_cls‖ | cosine |',
            '|---|---|---|---|'
        ]
        for g in ('backbone', 'classifier'):
            s = grads[g]
            lines.append(f"| {g} | {s['self_norm']:.3g} | "
                         f"{s['cls_norm']:.3g} | {_f(s['cosine'])} |")
    elif grads:
        lines += ['', f"gradients: skipped ({grads['skipped']})"]
    lines += ['', f"bank unchanged by the run: {report['bank_unchanged']}",
              '']
    return '\n'.join(lines)

