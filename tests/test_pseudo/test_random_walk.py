"""Memory-bounded IRN random walk: dense reference, walls, labels, API."""
import numpy as np
import pytest
import torch
from torch import nn

from mmcpal.pseudo.random_walk import (irn_refine, propagate, random_walk,
                                       refine_cams_with_boundary,
                                       scores_to_mask, transition_weights)


def _dense_irn_walk(cams, edge, radius, beta, exp_times):
    """IRN's dense formulation (misc/indexing.py::propagate_to_edge),
    written with loops: A (N x N), T = A^beta / column sums, T squared
    exp_times times, rw = (x * (1 - B)) T."""
    h, w = edge.shape
    n = h * w
    aff = torch.zeros(n, n, dtype=torch.float64)
    for p in range(n):
        py, px = divmod(p, w)
        for q in range(n):
            qy, qx = divmod(q, w)
            dy, dx = qy - py, qx - px
            if p == q:
                aff[p, q] = 1.0
                continue
            if dy * dy + dx * dx >= radius * radius:
                continue
            cells = [(y, x) for y in range(min(py, qy),
                                           max(py, qy) + 1)
                     for x in range(min(px, qx),
                                    max(px, qx) + 1)
                     if (dy * (x - px) - dx * (y - py))**2 < dy * dy + dx * dx]
            aff[p, q] = 1 - max(edge[c].item() for c in cells)
    trans = aff.pow(beta)
    trans = trans / trans.sum(0, keepdim=True)
    for _ in range(exp_times):
        trans = trans @ trans
    x = (cams * (1 - edge)).reshape(cams.shape[0], n)
    return (x @ trans).reshape(cams.shape)


@pytest.mark.parametrize('radius,exp_times', [(3, 3), (5, 4)])
def test_walk_equals_dense_reference(radius, exp_times):
    torch.manual_seed(radius)
    edge = torch.rand(6, 7, dtype=torch.float64)**2
    cams = torch.rand(2, 6, 7, dtype=torch.float64)
    got = random_walk(cams, edge, radius=radius, beta=10, exp_times=exp_times)
    want = _dense_irn_walk(cams, edge, radius, 10, exp_times)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    assert got.abs().sum() > 0.1


def test_transition_weights_rows():
    edge = torch.rand(5, 6, dtype=torch.float64)
    offsets, weights = transition_weights(edge, radius=3, beta=2)
    assert weights.shape == (len(offsets), 5, 6)
    torch.testing.assert_close(
        weights.sum(0), torch.ones(5, 6, dtype=torch.float64))
    # nothing leaves the grid: pixel (0, 0) has no neighbour above / left
    for k, (dy, dx) in enumerate(offsets):
        if dy < 0 or dx < 0:
            assert weights[k, 0, 0] == 0
    # the self weight is 1 / degree
    degree = 1 / weights[0]
    assert (degree >= 1).all()


def _wall(hole):
    edge = torch.zeros(12, 12)
    edge[:, 6] = 1.0
    if hole:
        edge[5:7, 6] = 0.0
    cams = torch.zeros(1, 12, 12)
    cams[0, 4:8, 1:3] = 1.0  # seed left of the wall
    return cams, edge


def test_walk_stops_at_a_wall():
    cams, edge = _wall(hole=False)
    out = random_walk(cams, edge)
    assert (out[0, :, 6:] == 0).all()  # nothing crosses the wall
    assert out[0, :, :6].min() > 0  # the left side is filled


def test_walk_passes_through_a_gap():
    cams, edge = _wall(hole=True)
    out = random_walk(cams, edge)
    right = out[0, :, 7:]
    assert right.min() > 0.05 * out.max()
    # far right, near the gap, gets more than far right, far from it
    assert out[0, 5, 8] > out[0, 0, 11]


def test_scores_to_mask_by_hand():
    scores = torch.tensor([[[0.1, 0.3, 0.9, 0.25]], [[0.2, 0.6, 0.4, 0.1]]])
    mask = scores_to_mask(scores, np.array([3, 7]), bg_thres=0.25)
    # 0.25 ties with the background: background wins (first channel)
    assert mask.tolist() == [[0, 7, 3, 0]]
    assert mask.dtype == torch.uint8
    with pytest.raises(ValueError, match='one key per map'):
        scores_to_mask(scores, np.array([3]))
    with pytest.raises(ValueError, match='keys must be class values'):
        scores_to_mask(scores, np.array([0, 3]))


def test_refine_blocks_at_boundary():
    # Image 24x24, grid 12x12 (stride 2): two classes either side of a wall.
    edge = torch.zeros(12, 12)
    edge[:, 6] = 1.0
    cams = torch.zeros(2, 24, 24)
    cams[0, 8:16, 2:6] = 1.0  # class 4 seed on the left
    cams[1, 8:16, 18:22] = 0.6  # class 9 seed on the right
    out = refine_cams_with_boundary(cams, edge, np.array([4, 9]))
    assert out.scores.shape == (2, 24, 24)
    assert out.scores.max().item() == pytest.approx(1.0)
    assert out.mask.shape == (24, 24)
    assert set(out.mask.unique().tolist()) <= {0, 4, 9}
    assert (out.mask[:, :11] != 9).all() and (out.mask[:, 14:] != 4).all()
    assert (out.mask[10:14, 3:5] == 4).all()
    assert (out.mask[10:14, 19:21] == 9).all()
    empty = refine_cams_with_boundary(
        torch.zeros(0, 5, 6), edge[:3, :3], np.zeros(0, dtype=np.int64))
    assert empty.mask.shape == (5, 6) and not empty.mask.any()


class _FixedBoundary(nn.Module):
    """A stand-in IRNet whose boundary is given."""

    def __init__(self, edge):
        super().__init__()
        self.register_buffer('edge', edge)
        self.dummy = nn.Parameter(torch.zeros(1))
        self.calls = []

    def predict_boundary(self, inputs, flip=True):
        self.calls.append((tuple(inputs.shape), flip))
        return self.edge[None].expand(inputs.shape[0], -1, -1)


def test_irn_refine_api():
    edge = torch.zeros(12, 12)
    edge[:, 6] = 1.0
    cams = np.zeros((1, 24, 24), dtype=np.float32)
    cams[0, 8:16, 2:6] = 1.0
    model = _FixedBoundary(edge)
    mask = irn_refine(
        model,
        torch.zeros(3, 48, 48),
        cams,
        np.array([5]),
        beta=10,
        exp_times=8,
        radius=5,
        bg_thres=0.25)
    assert model.calls == [((1, 3, 48, 48), True)]
    assert isinstance(mask, np.ndarray) and mask.dtype == np.uint8
    assert mask.shape == (24, 24)
    want = refine_cams_with_boundary(
        torch.from_numpy(cams), edge, np.array([5])).mask.numpy()
    np.testing.assert_array_equal(mask, want)
    assert (mask[:, 14:] == 0).all() and (mask[10:14, 3:5] == 5).all()
    with pytest.raises(ValueError, match='image_tensor must be'):
        irn_refine(model, torch.zeros(2, 3, 8, 8), cams, np.array([5]))


def test_bad_inputs():
    with pytest.raises(ValueError, match='same grid'):
        random_walk(torch.zeros(1, 4, 4), torch.zeros(4, 5))
    with pytest.raises(ValueError, match='exp_times must be an int >= 0'):
        random_walk(torch.zeros(1, 4, 4), torch.zeros(4, 4), exp_times=-1)
    with pytest.raises(ValueError, match='weights'):
        propagate(torch.zeros(1, 4, 4), torch.zeros(3, 4, 4), [(0, 0)], 1)
