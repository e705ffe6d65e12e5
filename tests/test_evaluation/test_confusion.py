"""Confusion matrices and scores against hand-computed values."""
import numpy as np
import pytest

from mmcpal.evaluation.confusion import (confusion_matrix, scored_class_names,
                                         segmentation_scores)

# 3x3 image, C = 2; GT (2, 2) is ignored.
GT_A = np.array([[0, 0, 1], [0, 1, 1], [2, 2, 255]])
PRED_A = np.array([[0, 1, 1], [0, 1, 0], [2, 0, 1]])
# Pairs (gt, pred) over the 8 valid pixels:
# (0,0) (0,1) (1,1) (0,0) (1,1) (1,0) (2,2) (2,0)
# -> T = [3, 3, 2], P = [4, 3, 1], TP = [2, 2, 1]
CONF_A = np.array([[2, 1, 0, 0], [1, 2, 0, 0], [1, 0, 1, 0]])


def test_confusion_matrix_by_hand():
    conf = confusion_matrix(PRED_A, GT_A, num_classes=2)
    np.testing.assert_array_equal(conf, CONF_A)
    assert conf.sum() == 8


def test_scores_by_hand():
    s = segmentation_scores(CONF_A)
    iou = [2 / (3 + 4 - 2), 2 / (3 + 3 - 2), 1 / (2 + 1 - 1)]
    assert [s['per_class'][str(i)]['iou'] for i in range(3)] == \
        pytest.approx(iou)
    assert s['miou'] == pytest.approx(sum(iou) / 3)
    assert s['pixel_acc'] == pytest.approx(5 / 8)
    bg = s['per_class']['0']
    assert bg['precision'] == pytest.approx(2 / 4)
    assert bg['recall'] == pytest.approx(2 / 3)
    assert bg['fp'] == pytest.approx((4 - 2) / 5)
    assert bg['fn'] == pytest.approx((3 - 2) / 5)
    assert bg['gt_pixels'] == 3 and bg['pred_pixels'] == 4
    # IoU + FP + FN = 1 per class (SEAM's normalisation by the union).
    for row in s['per_class'].values():
        assert row['iou'] + row['fp'] + row['fn'] == pytest.approx(1.0)
    fp = [2 / 5, 1 / 4, 0 / 2]
    assert s['fp'] == pytest.approx(sum(fp) / 3)
    assert s['coverage'] == 1.0
    # 4 of 8 pixels predicted foreground, 1 of them on GT background.
    assert s['pred_fg'] == pytest.approx(4 / 8)
    assert s['gt_fg'] == pytest.approx(5 / 8)
    assert s['bg_in_pred_fg'] == pytest.approx(1 / 4)
    assert s['num_scored_classes'] == 3


def test_unsure_predictions_wrong_and_exclude():
    pred = PRED_A.copy()
    pred[0, 0] = 255  # GT 0, was a hit
    conf = confusion_matrix(pred, GT_A, num_classes=2)
    assert conf[0, 3] == 1 and conf[0, 0] == 1
    wrong = segmentation_scores(conf, pred_ignore='wrong')
    # T0 = 3 (the unsure pixel is a miss), P0 = 3, TP0 = 1.
    assert wrong['per_class']['0']['iou'] == pytest.approx(1 / 5)
    assert wrong['per_class']['0']['recall'] == pytest.approx(1 / 3)
    assert wrong['miou'] == pytest.approx((1 / 5 + 1 / 2 + 1 / 2) / 3)
    assert wrong['pixel_acc'] == pytest.approx(4 / 8)
    assert wrong['coverage'] == pytest.approx(7 / 8)
    excl = segmentation_scores(conf, pred_ignore='exclude')
    # The unsure pixel is dropped: T0 = 2, P0 = 3, TP0 = 1.
    assert excl['per_class']['0']['iou'] == pytest.approx(1 / 4)
    assert excl['miou'] == pytest.approx((1 / 4 + 1 / 2 + 1 / 2) / 3)
    assert excl['pixel_acc'] == pytest.approx(4 / 7)
    assert excl['coverage'] == pytest.approx(7 / 8)
    # 255 in GT stays ignored whatever the prediction says there.
    pred[2, 2] = 255
    np.testing.assert_array_equal(confusion_matrix(pred, GT_A, num_classes=2),
                                  conf)


def test_absent_classes_are_not_averaged():
    # C = 4: class 3 appears only in the prediction (IoU 0, counted),
    # class 4 nowhere (NaN, not counted).
    pred = PRED_A.copy()
    pred[0, 0] = 3
    conf = confusion_matrix(pred, GT_A, num_classes=4)
    s = segmentation_scores(conf)
    assert np.isnan(s['per_class']['4']['iou'])
    assert s['per_class']['3']['iou'] == 0.0
    # Class 0 now: T0 = 3, P0 = 3, TP0 = 1.
    iou = [1 / 5, 1 / 2, 1 / 2, 0.0]
    assert s['miou'] == pytest.approx(sum(iou) / 4)
    assert s['num_scored_classes'] == 4
    assert scored_class_names(s) == ['0', '1', '2', '3']
    assert np.isnan(s['per_class']['3']['recall'])  # 0 / 0


def test_several_images_accumulate_pixels_not_means():
    gt_b = np.array([[1, 1, 1], [0, 0, 0]])
    pred_b = np.array([[1, 1, 0], [0, 0, 0]])
    total = (confusion_matrix(PRED_A, GT_A, 2) +
             confusion_matrix(pred_b, gt_b, 2))
    s = segmentation_scores(total)
    # T = [6, 6, 2], P = [8, 5, 1], TP = [5, 4, 1].
    iou = [5 / (6 + 8 - 5), 4 / (6 + 5 - 4), 1 / 2]
    assert s['miou'] == pytest.approx(sum(iou) / 3)
    assert s['pixel_acc'] == pytest.approx(10 / 14)


def test_against_loop_implementation():
    rng = np.random.default_rng(3)
    c = 4
    gt = rng.integers(0, c + 1, (9, 11))
    gt[rng.random(gt.shape) < 0.2] = 255
    pred = rng.integers(0, c + 1, (9, 11))
    pred[rng.random(pred.shape) < 0.1] = 255
    conf = confusion_matrix(pred, gt, c)
    loop = np.zeros((c + 1, c + 2), np.int64)
    for g, p in zip(gt.ravel(), pred.ravel()):
        if g == 255:
            continue
        loop[g, c + 1 if p == 255 else p] += 1
    np.testing.assert_array_equal(conf, loop)
    s = segmentation_scores(conf, 'wrong')
    for k in range(c + 1):
        valid = gt != 255
        t = ((gt == k) & valid).sum()
        p = ((pred == k) & valid).sum()
        tp = ((gt == k) & (pred == k)).sum()
        assert s['per_class'][str(k)]['iou'] == pytest.approx(tp /
                                                              (t + p - tp))


def test_bad_inputs():
    with pytest.raises(ValueError, match=r'values \[3\] are outside 0..2'):
        confusion_matrix(np.array([[3]]), np.array([[0]]), 2, name='x')
    with pytest.raises(ValueError, match=r'x \(ground truth\)'):
        confusion_matrix(np.array([[0]]), np.array([[7]]), 2, name='x')
    with pytest.raises(ValueError, match='differs'):
        confusion_matrix(np.zeros((2, 2), int), np.zeros((2, 3), int), 2)
    with pytest.raises(ValueError, match='integer labels'):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 2), int), 2)
    with pytest.raises(ValueError, match='foreground classes'):
        confusion_matrix(np.zeros((2, 2), int), np.zeros((2, 2), int), 0)
    with pytest.raises(ValueError, match='pred_ignore'):
        segmentation_scores(CONF_A, pred_ignore='skip')
    with pytest.raises(ValueError, match=r'\(C \+ 1, C \+ 2\)'):
        segmentation_scores(np.zeros((3, 3)))
    with pytest.raises(ValueError, match='C \\+ 1 = 3 entries'):
        segmentation_scores(CONF_A, class_names=['a', 'b'])
