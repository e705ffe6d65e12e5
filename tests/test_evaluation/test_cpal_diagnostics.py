"""Each figure of mmcpal.evaluation.cpal_diagnostics on tiny data whose value
is known by hand."""
import itertools
import math

import numpy as np
import pytest
import torch

from mmcpal.evaluation.cpal_diagnostics import (
    HistogramAUC, argmax_segmentation, assign_by_cosine, background_share,
    cluster_sizes, effective_neighbours, gradient_stats, l1_terms,
    mask_counts, nmi, precision_recall, purity, rank_auc,
    weighted_prototypes)


def _pairwise_auc(pos, neg):
    """Independent oracle: the definition, over all pairs."""
    total = 0.0
    for p, n in itertools.product(pos, neg):
        total += 1.0 if p > n else 0.5 if p == n else 0.0
    return total / (len(pos) * len(neg))


# --- AUC -------------------------------------------------------------------


def test_auc_separating_reversed_ties():
    assert rank_auc([0.6, 0.9, 0.7], [0.1, 0.5]) == 1.0
    assert rank_auc([0.1, 0.5], [0.6, 0.9, 0.7]) == 0.0
    assert rank_auc([0.3, 0.3], [0.3, 0.3, 0.3]) == 0.5
    assert math.isnan(rank_auc([], [0.1]))


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    pos = rng.integers(0, 6, 40) / 5.0  # many ties
    neg = rng.integers(0, 6, 30) / 5.0
    assert rank_auc(pos, neg) == pytest.approx(_pairwise_auc(pos, neg),
                                               abs=1e-12)


def test_histogram_auc_pooled_equals_rank_auc():
    rng = np.random.default_rng(1)
    acc = HistogramAUC(bins=11)
    pos_all, neg_all = [], []
    for _ in range(3):  # pooled over "images"
        pos = rng.integers(0, 11, 25) / 10.0
        neg = rng.integers(0, 11, 35) / 10.0
        acc.update(pos, neg)
        pos_all.append(pos)
        neg_all.append(neg)
    exact = rank_auc(np.concatenate(pos_all), np.concatenate(neg_all))
    assert acc.value() == pytest.approx(exact, abs=1e-12)
    assert acc.counts == (75, 105)
    sep = HistogramAUC()
    sep.update([0.9, 1.0], [0.0, 0.2])
    assert sep.value() == 1.0
    rev = HistogramAUC()
    rev.update([0.0, 0.2], [0.9, 1.0])
    assert rev.value() == 0.0
    tie = HistogramAUC()
    tie.update([0.4] * 3, [0.4] * 5)
    assert tie.value() == 0.5
    assert math.isnan(HistogramAUC().value())


# --- neighbours ------------------------------------------------------------


def test_effective_neighbours_uniform_onehot_padding():
    uniform = torch.full((5, ), 0.2)
    assert float(effective_neighbours(uniform)) == pytest.approx(5.0)
    onehot = torch.tensor([0.0, 1.0, 0.0, 0.0])
    assert float(effective_neighbours(onehot)) == pytest.approx(1.0)
    # zero padding (K' = 2 of K = 4): two equal weights -> 2
    padded = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    out = effective_neighbours(padded)
    assert float(out[0]) == pytest.approx(2.0)
    assert math.isnan(float(out[1]))


def test_assign_and_cluster_sizes_by_cosine():
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    x = torch.tensor([[5.0, 0.1], [0.2, 3.0], [0.1, 0.2], [9.0, -1.0]])
    assert assign_by_cosine(x, centres).tolist() == [0, 1, 1, 0]
    assert cluster_sizes(x, centres) == [2, 2, 0]


def test_weighted_prototypes():
    embed = torch.arange(8, dtype=torch.float32).reshape(2, 2, 2)
    w = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]])
    p = weighted_prototypes(embed, w)
    assert p[0].tolist() == [1.5, 5.5]
    assert p[1].tolist() == [0.0, 0.0]


# --- purity / NMI ----------------------------------------------------------


def test_purity_nmi_perfect_and_permuted():
    labels = ['a', 'a', 'b', 'b', 'c', 'c']
    assert purity([2, 2, 0, 0, 1, 1], labels) == 1.0
    assert nmi([2, 2, 0, 0, 1, 1], labels) == pytest.approx(1.0)


def test_purity_nmi_independent_clustering():
    # clusters split every label in half: purity 1/2, mutual information 0
    clusters = [0, 1, 0, 1]
    labels = ['a', 'a', 'b', 'b']
    assert purity(clusters, labels) == 0.5
    assert nmi(clusters, labels) == pytest.approx(0.0, abs=1e-12)


def test_purity_nmi_known_value():
    # 2 clusters x 2 labels, table [[2, 1], [0, 1]]
    clusters = [0, 0, 0, 1]
    labels = ['a', 'a', 'b', 'b']
    assert purity(clusters, labels) == 0.75
    h = lambda ps: -sum(p * math.log(p) for p in ps if p > 0)  # noqa: E731
    hc, hl = h([0.75, 0.25]), h([0.5, 0.5])
    mi = hl - (0.75 * h([2 / 3, 1 / 3]) + 0.25 * 0.0)
    assert nmi(clusters, labels) == pytest.approx(mi / ((hc + hl) / 2))
    # one cluster: purity = majority share, NMI 0; singletons: purity 1
    assert purity([0, 0, 0], ['a', 'a', 'b']) == pytest.approx(2 / 3)
    assert nmi([0, 0, 0], ['a', 'a', 'b']) == 0.0
    assert purity([0, 1, 2], ['a', 'a', 'b']) == 1.0
    assert math.isnan(purity([], []))


# --- reliable masks --------------------------------------------------------


def test_mask_precision_recall_by_hand():
    pred = np.array([[1, 1, 0], [1, 0, 0]], bool)
    gt = np.array([[1, 0, 0], [1, 1, 1]], bool)
    ignore = np.array([[0, 0, 0], [0, 0, 1]], bool)
    tp, fp, fn = mask_counts(pred, gt, ignore)
    assert (tp, fp, fn) == (2, 1, 1)
    assert precision_recall(tp, fp, fn) == (2 / 3, 2 / 3)
    p, r = precision_recall(0, 0, 3)
    assert math.isnan(p) and r == 0.0


# --- L_self background share -----------------------------------------------


def _single_class_maps(seed=0):
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(1, 1, 5, 6, generator=g)
    p = torch.rand(1, 1, 5, 6, generator=g)
    zeros = torch.zeros(1, 2, 5, 6)
    # class 2 of 3 present; bg = 1 - max over fg = 1 - the one class
    cam = torch.cat([1 - m, zeros[:, :1], m, zeros[:, 1:]], dim=1)
    pacam = torch.cat([1 - p, zeros[:, :1], p, zeros[:, 1:]], dim=1)
    return cam, pacam


def test_background_share_single_class_is_half():
    cam, pacam = _single_class_maps()
    assert background_share(cam, pacam) == pytest.approx(0.5, abs=1e-12)
    valid = torch.ones(1, 1, 5, 6)
    valid[..., :2] = 0
    channels = torch.tensor([[True, True, True, False]])
    assert background_share(cam, pacam, valid,
                            channels) == pytest.approx(0.5, abs=1e-12)


def test_background_share_hand_values():
    cam = torch.zeros(1, 3, 1, 2)
    pacam = torch.zeros(1, 3, 1, 2)
    cam[0, 0] = torch.tensor([[1.0, 0.0]])
    cam[0, 1] = torch.tensor([[0.0, 1.0]])
    cam[0, 2] = torch.tensor([[0.0, 1.0]])
    bg, total = l1_terms(cam, pacam)
    assert (bg, total) == (1.0, 3.0)
    assert background_share(cam, pacam) == pytest.approx(1 / 3)
    # leaving channel 2 out of the loss
    sel = torch.tensor([[True, True, False]])
    assert background_share(cam, pacam, None, sel) == pytest.approx(0.5)
    assert math.isnan(background_share(cam, cam))


# --- gradients ---------------------------------------------------------------


def test_gradient_stats_identical_opposite_and_unreached():
    torch.manual_seed(0)
    a = torch.nn.Linear(3, 4)
    b = torch.nn.Linear(4, 1)
    x = torch.randn(5, 3)
    out = b(a(x)).pow(2).mean()
    stats = gradient_stats(out, 2 * out, {'backbone': list(a.parameters()),
                                          'head': list(b.parameters())},
                           names=('self', 'cls'))
    for g in ('backbone', 'head'):
        assert stats[g]['cosine'] == pytest.approx(1.0, abs=1e-9)
        assert stats[g]['cls_norm'] == pytest.approx(
            2 * stats[g]['self_norm'], rel=1e-9)
    neg = gradient_stats(out, -out, {'all': list(a.parameters())})
    assert neg['all']['cosine'] == pytest.approx(-1.0, abs=1e-9)
    # a loss that does not reach the group: zero norm, undefined cosine
    only_b = b(torch.randn(2, 4)).sum()
    part = gradient_stats(out, only_b, {'backbone': list(a.parameters())})
    assert part['backbone']['b_norm'] == 0.0
    assert math.isnan(part['backbone']['cosine'])
    assert a.weight.grad is None  # .grad untouched


def test_gradient_stats_known_norms():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    la = (w * torch.tensor([3.0, 0.0])).sum()  # grad (3, 0)
    lb = (w * torch.tensor([0.0, 4.0])).sum()  # grad (0, 4)
    s = gradient_stats(la, lb, {'w': [w]})['w']
    assert (s['a_norm'], s['b_norm']) == (3.0, 4.0)
    assert s['cosine'] == 0.0


# --- argmax ------------------------------------------------------------------


def test_argmax_segmentation_only_present_classes():
    maps = np.zeros((4, 1, 3))
    maps[0] = [[0.5, 0.1, 0.2]]
    maps[1] = [[0.9, 0.9, 0.9]]  # absent: never chosen
    maps[2] = [[0.4, 0.6, 0.1]]
    maps[3] = [[0.0, 0.0, 0.3]]
    seg = argmax_segmentation(maps, np.array([0, 1, 1]))
    assert seg.tolist() == [[0, 2, 3]]
