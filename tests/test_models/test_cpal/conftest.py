"""Slow, independent loop implementations of the CPAL functional core.

Plain Python loops over images, classes, pixels and rows (on floats taken
out of the tensors), written from ``docs/cpal-method.md`` without reusing
``mmcpal.models.cpal.functional``. The tests compare the vectorised functions
with these on random inputs.
"""
import math

import pytest
import torch

EPS = 1e-5


def _norm(v):
    return math.sqrt(sum(a * a for a in v))


def _cos(a, b):
    """Cosine with F.normalize's convention: a zero vector gives 0."""
    na, nb = max(_norm(a), 1e-12), max(_norm(b), 1e-12)
    return sum(x * y for x, y in zip(a, b)) / (na * nb)


def _pixel(t, b, y, x):
    """Channel vector of tensor ``t`` (B, E, h, w) at pixel (y, x)."""
    return [float(v) for v in t[b, :, y, x]]


def ref_cam(logits, labels, valid, bg_alpha=1.0):
    b_, c_, h, w = logits.shape
    out = torch.zeros(b_, c_ + 1, h, w, dtype=torch.float64)
    for b in range(b_):
        ok = [[valid is None or float(valid[b, 0, y, x]) > 0
               for x in range(w)] for y in range(h)]
        for c in range(c_):
            if float(labels[b, c]) <= 0:
                continue
            peak = 0.0
            for y in range(h):
                for x in range(w):
                    if ok[y][x]:
                        peak = max(peak, max(float(logits[b, c, y, x]), 0.0))
            for y in range(h):
                for x in range(w):
                    if ok[y][x]:
                        out[b, c + 1, y, x] = max(
                            float(logits[b, c, y, x]), 0.0) / (peak + EPS)
        for y in range(h):
            for x in range(w):
                if ok[y][x]:
                    top = max([float(out[b, c + 1, y, x])
                               for c in range(c_)] + [0.0])
                    out[b, 0, y, x] = (1.0 - top)**bg_alpha
    return out


def ref_l1(cam, valid):
    b_, c_, h, w = cam.shape
    out = torch.zeros(b_, c_, h, w, dtype=torch.float64)
    for b in range(b_):
        for c in range(c_):
            total = sum(
                float(cam[b, c, y, x]) for y in range(h) for x in range(w)
                if float(valid[b, 0, y, x]) > 0)
            for y in range(h):
                for x in range(w):
                    if float(valid[b, 0, y, x]) > 0:
                        out[b, c, y, x] = float(cam[b, c, y, x]) / (total +
                                                                     EPS)
    return out


def ref_prototypes(embed, cams, labels, tau, valid):
    b_, e_, h, w = embed.shape
    c_ = cams.shape[1]
    protos = torch.zeros(b_, c_, e_, dtype=torch.float64)
    present = torch.zeros(b_, c_, dtype=torch.bool)
    for b in range(b_):
        for c in range(c_):
            if float(labels[b, c]) <= 0:
                continue
            acc, n = [0.0] * e_, 0
            for y in range(h):
                for x in range(w):
                    if float(cams[b, c, y, x]) > tau and (
                            valid is None or float(valid[b, 0, y, x]) > 0):
                        acc = [a + v for a, v in zip(acc,
                                                     _pixel(embed, b, y, x))]
                        n += 1
            if n:
                protos[b, c] = torch.tensor([a / n for a in acc],
                                                dtype=torch.float64)
                present[b, c] = True
    return protos, present


def ref_neighbours(protos, context, K):
    index, cos = [], []
    for p in protos.tolist():
        sims = [_cos(p, q) for q in context.tolist()]
        order = sorted(range(len(sims)), key=lambda j: -sims[j])[:K]
        index.append(order)
        cos.append([sims[j] for j in order])
    return index, cos


def ref_positiveness(protos, neighbours, metric, scale):
    out = []
    for p, nbs in zip(protos.tolist(), neighbours.tolist()):
        sims = []
        for q in nbs:
            if metric == 'dot':
                s = sum(a * b for a, b in zip(p, q))
            elif metric == 'cosine':
                s = _cos(p, q)
            elif metric == 'l1':
                s = -sum(abs(a - b) for a, b in zip(p, q))
            elif metric == 'l2':
                s = -math.sqrt(sum((a - b)**2 for a, b in zip(p, q)))
            else:
                s = 0.0
            sims.append(s / scale)
        top = max(sims)
        ex = [math.exp(s - top) for s in sims]
        out.append([v / sum(ex) for v in ex])
    return out


def ref_shift(protos, neighbours):
    n, k, e = neighbours.shape
    p_mean = [sum(float(protos[i, d]) for i in range(n)) / n
              for d in range(e)]
    c_mean = [
        sum(float(neighbours[i, j, d]) for i in range(n) for j in range(k)) /
        (n * k) for d in range(e)
    ]
    return [c - p for c, p in zip(c_mean, p_mean)]


def ref_pacam(embed, neighbours, weights, labels, shift, valid, mask,
              region):
    b_, e_, h, w = embed.shape
    c_, k_ = neighbours.shape[1:3]
    out = torch.zeros(b_, c_ + 1, h, w, dtype=torch.float64)
    for b in range(b_):
        ok = [[valid is None or float(valid[b, 0, y, x]) > 0
               for x in range(w)] for y in range(h)]
        for c in range(c_):
            if float(labels[b, c]) <= 0 or (mask is not None
                                            and not bool(mask[b, c])):
                continue
            raw = [[0.0] * w for _ in range(h)]
            for y in range(h):
                for x in range(w):
                    z = _pixel(embed, b, y, x)
                    if shift is not None and (region is None
                                              or bool(region[b, c, y, x])):
                        z = [a + float(s) for a, s in zip(z, shift[c])]
                    raw[y][x] = sum(
                        float(weights[b, c, k]) *
                        max(_cos(z, neighbours[b, c, k].tolist()), 0.0)
                        for k in range(k_))
            peak = max([raw[y][x] for y in range(h) for x in range(w)
                        if ok[y][x]] + [0.0])
            for y in range(h):
                for x in range(w):
                    if ok[y][x]:
                        out[b, c + 1, y, x] = raw[y][x] / (peak + EPS)
        for y in range(h):
            for x in range(w):
                if ok[y][x]:
                    out[b, 0, y, x] = 1.0 - max(
                        [float(out[b, c + 1, y, x]) for c in range(c_)] +
                        [0.0])
    return out


def ref_loss(cam, pac, valid, channels):
    b_, c1, h, w = cam.shape
    total, n = 0.0, 0
    for b in range(b_):
        for c in range(c1):
            if channels is not None and not bool(channels[b, c]):
                continue
            for y in range(h):
                for x in range(w):
                    if float(valid[b, 0, y, x]) > 0:
                        total += abs(float(cam[b, c, y, x]) -
                                     float(pac[b, c, y, x]))
                        n += 1
    return total / n if n else 0.0


def ref_kmeans(rows, k, iters, seed):
    """Spherical k-means, one row at a time (the documented algorithm).

    Returns ``(centres, assign, reseeded)``: raw-mean centres of the
    non-empty clusters in index order, each row's index into them, and
    whether an empty cluster was ever re-seeded.
    """
    rows = [list(map(float, r)) for r in rows]
    n = len(rows)
    if n == 0:
        return [], [], False
    if n <= k:
        return rows, list(range(n)), False
    unit = [[v / max(_norm(r), 1e-12) for v in r] for r in rows]
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))  # noqa: E731
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(k, generator=gen, dtype=torch.float64).tolist()
    idx = min(int(math.floor(u[0] * n)), n - 1)
    chosen = [idx]
    best = [dot(r, unit[idx]) for r in unit]
    best[idx] = 1.0
    for j in range(1, k):
        d2 = [max(2.0 - 2.0 * v, 0.0) for v in best]
        cum, acc = [], 0.0
        for v in d2:
            acc += v
            cum.append(acc)
        target = u[j] * cum[-1]
        idx = next((i for i, v in enumerate(cum) if v > target), n)
        idx = min(idx, n - 1)
        chosen.append(idx)
        best = [max(b, dot(r, unit[idx])) for b, r in zip(best, unit)]
        best[idx] = 1.0
    centres = [unit[i] for i in chosen]

    def assign_step(centres):
        sims = [[dot(r, c) for c in centres] for r in unit]
        return [max(range(k), key=lambda j: (s[j], -j)) for s in sims], sims

    assign, sims = assign_step(centres)
    reseeded = False
    for _ in range(iters):
        new = []
        for j in range(k):
            members = [unit[i] for i in range(n) if assign[i] == j]
            s = [sum(col) for col in zip(*members)] if members else None
            new.append(None if s is None else
                       [v / max(_norm(s), 1e-12) for v in s])
        empties = [j for j in range(k) if new[j] is None]
        if empties:
            own = [sims[i][assign[i]] for i in range(n)]
            far = sorted(range(n), key=lambda i: own[i])  # stable
            for m, j in enumerate(empties):
                new[j] = unit[far[m]]
            reseeded = True
        new_assign, sims = assign_step(new)
        if new_assign == assign:
            break
        assign = new_assign
    keep = [j for j in range(k) if j in assign]
    out = []
    for j in keep:
        members = [rows[i] for i in range(n) if assign[i] == j]
        out.append([sum(col) / len(members) for col in zip(*members)])
    return out, [keep.index(a) for a in assign], reseeded


@pytest.fixture
def ref():
    """The loop references, as a namespace."""

    class Ref:
        cam = staticmethod(ref_cam)
        l1 = staticmethod(ref_l1)
        prototypes = staticmethod(ref_prototypes)
        neighbours = staticmethod(ref_neighbours)
        positiveness = staticmethod(ref_positiveness)
        shift = staticmethod(ref_shift)
        pacam = staticmethod(ref_pacam)
        loss = staticmethod(ref_loss)
        kmeans = staticmethod(ref_kmeans)

    return Ref
