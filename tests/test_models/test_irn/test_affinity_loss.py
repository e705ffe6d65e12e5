"""IRN affinity targets and loss on hand-made label maps."""
import math

import pytest
import torch

from mmcpal.models.irn.affinity_loss import (affinity_loss,
                                             affinity_loss_terms,
                                             affinity_targets)
from mmcpal.models.irn.paths import half_directions, path_affinity

EPS = 1e-5


def _pairs(mask, dirs):
    """Set of ((y, x), (y + dy, x + dx)) of a (1, D, h, w) pair mask."""
    out = set()
    for k, y, x in mask[0].nonzero().tolist():
        dy, dx = dirs[k]
        out.add(((y, x), (y + dy, x + dx)))
    return out


def test_1x6_pairs_by_hand():
    labels = torch.tensor([[[0, 0, 1, 1, 255, 2]]])
    dirs = half_directions(3)  # only (0, 1) and (0, 2) stay in one row
    t = affinity_targets(labels, dirs)
    assert _pairs(t.bg_pos, dirs) == {((0, 0), (0, 1))}
    assert _pairs(t.fg_pos, dirs) == {((0, 2), (0, 3))}
    assert _pairs(t.neg, dirs) == {((0, 1), (0, 2)), ((0, 0), (0, 2)),
                                   ((0, 1), (0, 3)), ((0, 3), (0, 5))}
    # Pairs touching the 255 at x = 4 are in no set.
    assert not any(4 in (a[1], b[1])
                   for a, b in _pairs(t.bg_pos | t.fg_pos | t.neg, dirs))


def test_1x6_loss_by_hand():
    labels = torch.tensor([[[0, 0, 1, 1, 255, 2]]])
    edge = torch.tensor([[[0.1, 0.2, 0.5, 0.3, 0.9, 0.4]]],
                        dtype=torch.float64)
    dirs = half_directions(3)
    terms = affinity_loss_terms(
        path_affinity(edge, dirs), affinity_targets(labels, dirs))
    # bg pair (0,1): a = 1 - 0.2; fg pair (2,3): a = 1 - 0.5.
    bg = -math.log(0.8 + EPS) / (1 + EPS)
    fg = -math.log(0.5 + EPS) / (1 + EPS)
    # negatives (1,2), (0,2), (1,3): a = 0.5; (3,5): a = 1 - 0.9 = 0.1.
    neg = -(3 * math.log(1 + EPS - 0.5) + math.log(1 + EPS - 0.1)) / (4 + EPS)
    assert terms['bg_pos'].item() == pytest.approx(bg, rel=1e-9)
    assert terms['fg_pos'].item() == pytest.approx(fg, rel=1e-9)
    assert terms['neg'].item() == pytest.approx(neg, rel=1e-9)
    total = affinity_loss(
        path_affinity(edge, dirs), affinity_targets(labels, dirs))
    assert total.item() == pytest.approx((bg / 2 + fg / 2 + neg) / 2, rel=1e-9)


def test_6x6_counts_by_hand():
    labels = torch.zeros(1, 6, 6, dtype=torch.long)
    labels[0, 3:] = 1  # top half background, bottom half class 1
    dirs = half_directions(2)  # right, down-left, down, down-right
    t = affinity_targets(labels, dirs)
    # bg: 15 horizontal + 12 vertical + 10 + 10 diagonal; fg the same;
    # neg: the 6 + 5 + 5 pairs across rows 2 and 3.
    assert (t.bg_pos.sum().item(), t.fg_pos.sum().item(),
            t.neg.sum().item()) == (47, 47, 16)
    labels[0, 0, 0] = 255  # drops its right, down and down-right pairs
    t = affinity_targets(labels, dirs)
    assert (t.bg_pos.sum().item(), t.fg_pos.sum().item(),
            t.neg.sum().item()) == (44, 47, 16)


def test_random_map_matches_brute_force():
    torch.manual_seed(0)
    h = w = 6
    radius = 4
    labels = torch.randint(0, 3, (1, h, w))
    labels[torch.rand(1, h, w) < 0.2] = 255
    edge = torch.rand(1, h, w, dtype=torch.float64)
    dirs = half_directions(radius)
    t = affinity_targets(labels, dirs)
    aff = path_affinity(edge, dirs)
    pixels = [(y, x) for y in range(h) for x in range(w)]
    counts = dict(bg=0, fg=0, neg=0)
    sums = dict(bg=0.0, fg=0.0, neg=0.0)
    for i, p in enumerate(pixels):
        for q in pixels[i + 1:]:  # every unordered pair once
            dy, dx = q[0] - p[0], q[1] - p[1]
            if dy * dy + dx * dx >= radius * radius:
                continue
            a, b = labels[0][p].item(), labels[0][q].item()
            if 255 in (a, b):
                continue
            cells = [(p[0] + cy, p[1] + cx)
                     for cy in range(min(0, dy),
                                     max(0, dy) + 1)
                     for cx in range(min(0, dx),
                                     max(0, dx) + 1)
                     if (dy * cx - dx * cy)**2 < dy * dy + dx * dx]
            affinity = 1 - max(edge[0][c].item() for c in cells)
            kind = 'neg' if a != b else ('bg' if a == 0 else 'fg')
            counts[kind] += 1
            sums[kind] += (-math.log(1 + EPS - affinity)
                           if kind == 'neg' else -math.log(affinity + EPS))
    assert t.bg_pos.sum().item() == counts['bg']
    assert t.fg_pos.sum().item() == counts['fg']
    assert t.neg.sum().item() == counts['neg']
    terms = affinity_loss_terms(aff, t)
    for key, kind in (('bg_pos', 'bg'), ('fg_pos', 'fg'), ('neg', 'neg')):
        want = sums[kind] / (counts[kind] + EPS)
        assert terms[key].item() == pytest.approx(want, rel=1e-9)


def test_kind_without_pairs_gives_zero_and_bad_input():
    labels = torch.zeros(1, 3, 3, dtype=torch.long)
    dirs = half_directions(2)
    terms = affinity_loss_terms(
        path_affinity(torch.full((1, 3, 3), 0.5), dirs),
        affinity_targets(labels, dirs))
    assert terms['fg_pos'].item() == 0 and terms['neg'].item() == 0
    assert terms['bg_pos'].item() == pytest.approx(
        -math.log(0.5 + EPS), rel=1e-4)
    with pytest.raises(ValueError, match='labels must be integers'):
        affinity_targets(labels.float(), dirs)
    with pytest.raises(ValueError, match=r'labels must be \(N, h, w\)'):
        affinity_targets(labels[0], dirs)
    with pytest.raises(ValueError, match='targets.bg_pos has shape'):
        affinity_loss_terms(
            torch.zeros(1, 2, 3, 3), affinity_targets(labels, dirs))
