"""Tests of IR labels (IRN / AMN) and CRF pseudo masks from CAMs."""
import importlib.util

import numpy as np
import pytest

from mmcpal.pseudo.ir_labels import (AMN_THRESHOLDS, IRN_THRESHOLDS,
                                     combine_ir_labels, crf_masks,
                                     ir_label_stats, make_ir_labels)

HAS_PYDENSECRF = importlib.util.find_spec('pydensecrf') is not None
BACKENDS = [
    'torch',
    pytest.param(
        'pydensecrf',
        marks=pytest.mark.skipif(
            not HAS_PYDENSECRF,
            reason='pydensecrf2 not installed (optional extra mmcpal[crf])'))
]
U = 255

# Hand-made CAMs (class 3, class 7) per pixel of a 2 x 5 image.
CAM_PAIRS = [
    [(0.9, 0.1), (0.2, 0.25), (0.01, 0.04), (0.30, 0.0), (0.05, 0.05)],
    [(0.4, 0.6), (0.6, 0.4), (0.31, 0.0), (0.0, 0.06), (0.0, 0.0)],
]
# IRN thresholds fg 0.30 / bg 0.05; ties go to background (first argmax):
# (0.30, 0) is background for the fg map, foreground for the bg map.
EXPECTED_IRN = [[3, U, 0, U, 0], [7, 3, 3, U, 0]]
# AMN thresholds fg 0.45 / bg 0.15.
EXPECTED_AMN = [[3, U, 0, U, 0], [7, 3, U, 0, 0]]


def hand_case():
    cams = np.array(CAM_PAIRS, np.float32).transpose(2, 0, 1)  # (2, 2, 5)
    image = np.zeros((2, 5, 3), np.uint8)
    return image, cams, np.array([3, 7])


def stripes_scene():
    """Three colour stripes: x < 8 (weak CAM), 8..19 (none), >= 20 (object).

    The CAMs spill 2 pixels over each colour edge.
    """
    h, w = 32, 40
    rng = np.random.default_rng(0)
    img = np.zeros((h, w, 3))
    img[:, :8] = [40, 40, 200]
    img[:, 8:20] = [30, 120, 60]
    img[:, 20:] = [210, 200, 40]
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    cam = np.zeros(w, np.float32)
    cam[:10] = 0.15
    cam[18:] = 0.5
    cam[22:] = 0.9
    return img, np.broadcast_to(cam, (1, h, w)).copy(), np.array([5])


def stripes_expected(w: int = 40, h: int = 32, unsure_left: bool = True):
    row = np.zeros(w, np.uint8)
    row[:8] = U if unsure_left else 0
    row[20:] = 5
    return np.broadcast_to(row, (h, w))


def test_thresholds_are_irn_and_amn_values():
    assert IRN_THRESHOLDS == dict(fg_thr=0.30, bg_thr=0.05)
    assert AMN_THRESHOLDS == dict(fg_thr=0.45, bg_thr=0.15)


def test_ir_labels_by_hand_without_crf():
    image, cams, keys = hand_case()
    out = make_ir_labels(image, cams, keys, use_crf=False)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, EXPECTED_IRN)
    out = make_ir_labels(image, cams, keys, **AMN_THRESHOLDS, use_crf=False)
    np.testing.assert_array_equal(out, EXPECTED_AMN)


def test_combine_rule_of_irn():
    fg = np.array([[0, 0, 4, 4, 0]])
    bg = np.array([[0, 4, 4, 0, 2]])
    # fg kept; fg == 0 -> unsure unless bg == 0 too.
    np.testing.assert_array_equal(combine_ir_labels(fg, bg),
                                  [[0, U, 4, 4, U]])


@pytest.mark.parametrize('backend', BACKENDS)
def test_ir_labels_with_crf_snap_to_colour_edges(backend):
    img, cams, keys = stripes_scene()
    raw = make_ir_labels(img, cams, keys, use_crf=False)
    # Without CRF the regions follow the spilled CAMs.
    assert (raw[:, 8:10] == U).all() and (raw[:, 18:20] == 5).all()
    out = make_ir_labels(img, cams, keys, crf_backend=backend)
    np.testing.assert_array_equal(out, stripes_expected())
    bg, fg, unsure = ir_label_stats(out)
    assert (bg, fg, unsure) == pytest.approx((0.3, 0.5, 0.2))


@pytest.mark.parametrize('backend', BACKENDS)
def test_crf_masks(backend):
    img, cams, keys = stripes_scene()
    raw = crf_masks(img, cams, keys, 0.25, use_crf=False)
    expected_raw = np.zeros_like(raw)
    expected_raw[:, 18:] = 5
    np.testing.assert_array_equal(raw, expected_raw)
    out = crf_masks(img, cams, keys, 0.25, crf_backend=backend)
    np.testing.assert_array_equal(out, stripes_expected(unsure_left=False))


def test_image_without_classes_is_background():
    img = np.zeros((4, 6, 3), np.uint8)
    cams = np.zeros((0, 4, 6), np.float32)
    keys = np.zeros((0, ), np.int64)
    assert (make_ir_labels(img, cams, keys) == 0).all()
    assert (crf_masks(img, cams, keys, 0.2) == 0).all()


def test_bad_inputs_raise_clear_errors():
    image, cams, keys = hand_case()
    with pytest.raises(ValueError, match='keys must be foreground'):
        make_ir_labels(image, cams, np.array([0, 7]))
    with pytest.raises(ValueError, match='keys must be distinct'):
        make_ir_labels(image, cams, np.array([3, 3]))
    with pytest.raises(ValueError, match='K=2 integer'):
        make_ir_labels(image, cams, np.array([3]))
    with pytest.raises(ValueError, match=r'cams must be a \(K, H, W\)'):
        make_ir_labels(image, cams[:, :1], keys)
    with pytest.raises(ValueError, match='bg_thr must be <= fg_thr'):
        make_ir_labels(image, cams, keys, 0.1, 0.2)
    with pytest.raises(ValueError, match='unknown crf_params'):
        crf_masks(image, cams, keys, 0.2, crf_params=dict(sxy=3))
    with pytest.raises(ValueError, match='image must be an'):
        crf_masks(image[..., 0], cams, keys, 0.2)
