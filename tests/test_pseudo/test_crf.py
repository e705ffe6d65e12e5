"""Tests of the dense CRF (torch backend, optional pydensecrf2 backend)."""
import importlib.util
import sys

import cv2
import numpy as np
import pytest
import torch

from mmcpal.pseudo import crf_torch
from mmcpal.pseudo.crf import (DenseCRF, crf_inference_label, dense_crf,
                               unary_from_labels, unary_from_probs)

HAS_PYDENSECRF = importlib.util.find_spec('pydensecrf') is not None
needs_pydensecrf = pytest.mark.skipif(
    not HAS_PYDENSECRF,
    reason='pydensecrf2 not installed (optional extra: pip install '
    "'mmcpal[crf]' or pydensecrf2==1.1); the reference backend is skipped")


def ellipse_scene(h: int = 48, w: int = 64, seed: int = 0):
    """A two-colour noisy image with an elliptic object and its mask."""
    yy, xx = np.mgrid[:h, :w]
    mask = ((xx - 30)**2 / 15**2 + (yy - 22)**2 / 12**2 < 1).astype(np.int64)
    rng = np.random.default_rng(seed)
    img = np.where(mask[..., None] == 1, [200, 60, 40], [40, 90, 160])
    img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    return img, mask


def coarse_probs(mask: np.ndarray) -> np.ndarray:
    """CAM-like unary: the mask at 1/8 resolution, upsampled, blurred and
    shifted by 3 px, as (2, H, W) probabilities."""
    h, w = mask.shape
    small = cv2.resize(mask.astype(np.float32), (w // 8, h // 8),
                       interpolation=cv2.INTER_AREA)
    fg = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    fg = np.roll(cv2.GaussianBlur(fg, (0, 0), 3), 3, axis=1)
    return (np.stack([1 - fg, fg]) * 0.8 + 0.1).astype(np.float32)


def iou(pred: np.ndarray, mask: np.ndarray) -> float:
    return float(((pred == 1) & (mask == 1)).sum() /
                 ((pred == 1) | (mask == 1)).sum())


def random_probs(n_labels: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.random((n_labels, h // 4 + 1, w // 4 + 1)).astype(np.float32)
    probs = np.stack([
        cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in small
    ]) + 0.05
    return probs / probs.sum(0, keepdims=True)


@pytest.mark.parametrize('backend', [
    'torch',
    pytest.param('pydensecrf', marks=needs_pydensecrf),
])
def test_crf_sharpens_blurred_mask(backend):
    img, mask = ellipse_scene()
    probs = coarse_probs(mask)
    before = iou(probs.argmax(0), mask)
    q = dense_crf(img, probs, backend=backend)
    after = iou(q.argmax(0), mask)
    assert before < 0.8  # the coarse, shifted unary really is off
    assert after > 0.97 and after > before + 0.15
    np.testing.assert_allclose(q.sum(0), 1.0, atol=1e-5)


@pytest.mark.parametrize('backend', [
    'torch',
    pytest.param('pydensecrf', marks=needs_pydensecrf),
])
def test_zero_pairwise_is_softmax_of_log_unary(backend):
    img, _ = ellipse_scene(20, 24)
    probs = random_probs(5, 20, 24) * 0.5  # unnormalised scores, as PSA
    q = dense_crf(img, probs, backend=backend, gauss_compat=0,
                  bilateral_compat=0)
    logp = np.log(probs.astype(np.float64))
    expected = np.exp(logp - logp.max(0))
    expected /= expected.sum(0)
    np.testing.assert_allclose(q, expected, atol=1e-6)
    # zero iterations leave the same softmax whatever the weights
    q0 = dense_crf(img, probs, backend=backend, iters=0)
    np.testing.assert_allclose(q0, expected, atol=1e-6)


@needs_pydensecrf
def test_torch_agrees_with_pydensecrf_on_synthetic_image():
    rng = np.random.default_rng(1)
    h, w = 40, 56
    img = (rng.random((h, w, 3)) * 60).astype(np.uint8)
    img[h // 3:, w // 2:] += 150
    img[:, :w // 5] += 90
    probs = random_probs(6, h, w, seed=2)
    for params in (dict(), dict(bilateral_sxy=80, bilateral_srgb=13)):
        q_ref = dense_crf(img, probs, backend='pydensecrf', **params)
        q = dense_crf(img, probs, backend='torch', **params)
        agreement = (q.argmax(0) == q_ref.argmax(0)).mean()
        assert agreement >= 0.95
        # Same lattice maths: the marginals match up to float rounding.
        np.testing.assert_allclose(q, q_ref, atol=1e-3)


@needs_pydensecrf
def test_label_crf_and_unary_match_pydensecrf():
    from pydensecrf.utils import unary_from_labels as ref_unary
    img, mask = ellipse_scene(32, 40)
    labels = np.where(np.roll(mask, 4, axis=1) == 1, 2, 0)
    labels[:4, :4] = 1
    ours = unary_from_labels(labels, 3, 0.7)
    ref = ref_unary(labels, 3, gt_prob=0.7, zero_unsure=False)
    np.testing.assert_allclose(ours.reshape(3, -1), ref, rtol=1e-6)
    out_t = crf_inference_label(img, labels, 3, backend='torch')
    out_r = crf_inference_label(img, labels, 3, backend='pydensecrf')
    assert (out_t == out_r).mean() >= 0.99


def test_unary_helpers_by_hand():
    labels = np.array([[0, 2], [1, 1]])
    unary = unary_from_labels(labels, 3, gt_prob=0.7)
    on, off = -np.log(0.7), -np.log(0.15)
    expected = np.full((3, 2, 2), off, np.float32)
    expected[0, 0, 0] = expected[2, 0, 1] = on
    expected[1, 1, 0] = expected[1, 1, 1] = on
    np.testing.assert_allclose(unary, expected, rtol=1e-6)
    probs = np.array([[[0.0, 0.5]], [[2.0, 1e-3]]])
    np.testing.assert_allclose(
        unary_from_probs(probs),
        [[[-np.log(1e-5), -np.log(0.5)]], [[0.0, -np.log(1e-3)]]],
        rtol=1e-6)


def test_crf_inference_label_fixes_wrong_patch():
    img, mask = ellipse_scene()
    labels = mask.copy()
    labels[20:24, 8:12] = 1  # wrong foreground patch in the background
    labels[20:24, 28:32] = 0  # hole in the object
    out = crf_inference_label(img, labels, 2)
    assert out.dtype == np.int64
    assert (out == mask).mean() > 0.995
    assert (out[20:24, 8:12] == 0).all() and (out[20:24, 28:32] == 1).all()
    assert (crf_inference_label(img, np.zeros_like(labels), 1) == 0).all()


def test_dense_crf_class_wrapper():
    img, mask = ellipse_scene(24, 32)
    probs = coarse_probs(mask)
    crf = DenseCRF(iters=5, bilateral_sxy=30)
    np.testing.assert_allclose(
        crf(img, probs),
        dense_crf(img, probs, iters=5, bilateral_sxy=30),
        atol=1e-6)
    np.testing.assert_array_equal(
        crf.label(img, mask, 2),
        crf_inference_label(img, mask, 2, iters=5, bilateral_sxy=30))


def test_lattice_approximates_exact_gaussian():
    torch.manual_seed(0)
    for dim, max_err, min_corr in ((2, 0.05, 0.99), (5, 0.3, 0.9)):
        feat = torch.rand(300, dim) * 4
        values = torch.rand(300, 3)
        lattice = crf_torch.PermutohedralLattice(feat)
        approx = lattice.filter(values) / lattice.filter(torch.ones(300, 1))
        # Independent O(N^2) reference: normalised Gaussian filtering.
        sq = ((feat[:, None] - feat[None])**2).sum(-1)
        kernel = torch.exp(-sq / 2)
        exact = kernel @ values / kernel.sum(1, keepdim=True)
        assert (approx - exact).abs().max() < max_err
        corr = np.corrcoef(approx.flatten(), exact.flatten())[0, 1]
        assert corr > min_corr


def test_unpacked_lattice_path_matches_packed(monkeypatch):
    img, _ = ellipse_scene(16, 20)
    feat = crf_torch.bilateral_features(torch.from_numpy(img), 7.0, 9.0)
    values = torch.rand(feat.shape[0], 4)
    packed = crf_torch.PermutohedralLattice(feat)
    monkeypatch.setattr(crf_torch, '_MAX_PACKED_CODES', 0)
    unpacked = crf_torch.PermutohedralLattice(feat)
    assert unpacked.num_points == packed.num_points
    assert torch.allclose(unpacked.filter(values), packed.filter(values),
                          atol=1e-5)


def test_label_pruning_changes_marginals_negligibly():
    img, mask = ellipse_scene(32, 40)
    probs = np.full((8, 32, 40), 1e-6, np.float32)
    probs[0] = 1 - mask * 0.9
    probs[5] = mask * 0.9 + 0.05
    unary = torch.from_numpy(unary_from_probs(probs))
    pairwise = [('gaussian', dict(sxy=3.0), 3.0),
                ('bilateral', dict(sxy=50.0, srgb=5.0), 10.0)]
    image = torch.from_numpy(img)
    exact = crf_torch.dense_crf_torch(image, unary, iters=10,
                                      pairwise=pairwise, prune_below=0)
    pruned = crf_torch.dense_crf_torch(image, unary, iters=10,
                                       pairwise=pairwise)
    assert (pruned - exact).abs().max() < 1e-3


def test_column_max_matches_amax():
    values = torch.rand(1000 * 64 + 37, 24)
    assert torch.equal(crf_torch._column_max(values), values.amax(0))
    assert torch.equal(crf_torch._column_max(values[:30]),
                       values[:30].amax(0))


def test_bad_inputs_raise_clear_errors():
    img, mask = ellipse_scene(8, 10)
    probs = random_probs(3, 8, 10)
    with pytest.raises(ValueError, match='image must be an'):
        dense_crf(img.astype(np.float32), probs)
    with pytest.raises(ValueError, match='shape'):
        dense_crf(img, probs[:, :4])
    with pytest.raises(ValueError, match='backend must be one of'):
        dense_crf(img, probs, backend='cuda')
    with pytest.raises(ValueError, match='bilateral_srgb'):
        dense_crf(img, probs, bilateral_srgb=0)
    with pytest.raises(ValueError, match='Potts weight'):
        dense_crf(img, probs, gauss_compat=-1)
    with pytest.raises(ValueError, match='NaN'):
        dense_crf(img, probs * np.nan)
    with pytest.raises(ValueError, match=r'labels must lie in \[0, 2\)'):
        crf_inference_label(img, np.full_like(mask, 2), 2)
    with pytest.raises(ValueError, match='gt_prob'):
        crf_inference_label(img, mask, 2, gt_prob=1.0)
    with pytest.raises(ValueError, match='features must have shape'):
        crf_torch.PermutohedralLattice(torch.zeros(5))


def test_missing_pydensecrf_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pydensecrf', None)
    monkeypatch.setitem(sys.modules, 'pydensecrf.densecrf', None)
    img, _ = ellipse_scene(8, 10)
    with pytest.raises(ImportError, match=r"mmcpal\[crf\].*pydensecrf2==1.1"):
        dense_crf(img, random_probs(2, 8, 10), backend='pydensecrf')


def slow_lattice_keys(feat: np.ndarray) -> list:
    """Simplex vertex keys per pixel by a plain loop over densecrf's
    ``Permutohedral::init`` (elevate, round, rank, canonical simplex)."""
    n, d = feat.shape
    d1 = d + 1
    inv_std_dev = np.sqrt(2.0 / 3.0) * d1
    keys = []
    for f in feat.astype(np.float64):
        cf = [f[i] * inv_std_dev / np.sqrt((i + 1) * (i + 2))
              for i in range(d)]
        elevated = np.zeros(d1)
        running = 0.0
        for j in range(d, 0, -1):
            elevated[j] = running - j * cf[j - 1]
            running += cf[j - 1]
        elevated[0] = running
        rem0 = np.round(elevated / d1) * d1
        total = int(round(rem0.sum() / d1))
        diff = elevated - rem0
        rank = np.zeros(d1, np.int64)
        for i in range(d):
            for j in range(i + 1, d1):
                if diff[i] < diff[j]:
                    rank[i] += 1
                else:
                    rank[j] += 1
        rank += total
        for i in range(d1):
            if rank[i] < 0:
                rank[i] += d1
                rem0[i] += d1
            elif rank[i] > d:
                rank[i] -= d1
                rem0[i] -= d1
        keys.append([
            tuple(int(rem0[i]) + (r if rank[i] <= d - r else r - d1)
                  for i in range(d)) for r in range(d1)
        ])
    return keys


@pytest.mark.parametrize('dim', [2, 5])
def test_lattice_points_and_neighbours_match_slow_keys(dim):
    torch.manual_seed(dim)
    feat = torch.rand(120, dim) * 3
    lattice = crf_torch.PermutohedralLattice(feat)
    keys = slow_lattice_keys(feat.numpy())
    point_key = {}
    for p, vertex_keys in enumerate(keys):
        for r, key in enumerate(vertex_keys):
            point = int(lattice.offsets[p, r])
            assert point_key.setdefault(point, key) == key
    assert len(set(point_key.values())) == len(point_key) == \
        lattice.num_points
    key_point = {k: p for p, k in point_key.items()}
    m = lattice.num_points
    for j in range(dim + 1):
        step = np.zeros(dim, np.int64)
        if j < dim:
            step[j] = dim + 1
        for point, key in point_key.items():
            # Blur neighbours of densecrf: key - 1 (+ (d+1) on axis j) and
            # key + 1 (- (d+1) on axis j); missing ones are marked m.
            for side, sign in ((0, -1), (1, 1)):
                nkey = tuple(int(k) for k in np.array(key) + sign *
                             (1 - step))
                assert int(lattice.neighbours[j, side, point]) == \
                    key_point.get(nkey, m)


def test_blur_parts_are_cached_and_compose_single_axis_blurs():
    torch.manual_seed(1)
    lattice = crf_torch.PermutohedralLattice(torch.rand(80, 3) * 3)
    m = lattice.num_points

    def dense(parts):
        crow, col, val = parts
        rows = torch.repeat_interleave(torch.arange(m),
                                       (crow[1:] - crow[:-1]).long())
        mat = torch.zeros(m, m)
        mat.index_put_((rows, col.long()), val, accumulate=True)
        return mat

    assert lattice.blur_parts([0, 1]) is lattice.blur_parts((0, 1))
    # Independent single-axis blur: 1 on the diagonal, 1/2 per neighbour.
    single = []
    for j in range(2):
        mat = torch.eye(m)
        for side in range(2):
            nb = lattice.neighbours[j, side]
            ok = nb < m
            mat[torch.arange(m)[ok], nb[ok]] += 0.5
        single.append(mat)
    assert torch.allclose(dense(lattice.blur_parts([0, 1])),
                          single[1] @ single[0])
