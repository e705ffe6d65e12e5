"""Seeds from CAMs, the threshold / alpha sweep and evaluate_cam_dir."""
import json

import numpy as np
import pytest

from mmcpal.evaluation import seeds as seeds_mod
from mmcpal.evaluation.confusion import confusion_matrix, segmentation_scores
from mmcpal.evaluation.seeds import (DEFAULT_THRESHOLDS, background_score,
                                     cams_to_seed, curve_dict,
                                     evaluate_cam_dir, seed_confusions)


def test_default_thresholds_start_near_zero():
    assert DEFAULT_THRESHOLDS[:4] == (0.01, 0.02, 0.03, 0.05)
    steps = np.diff(DEFAULT_THRESHOLDS[3:])
    np.testing.assert_allclose(steps, 0.05)
    assert DEFAULT_THRESHOLDS[-1] == pytest.approx(0.95)


def test_cams_to_seed_keys_and_ties():
    cams = np.array([[[0.5, 0.3, 0.25, 0.7]], [[0.1, 0.3, 0.0, 0.7]]])
    seed = cams_to_seed(cams, np.array([3, 7]), threshold=0.25)
    # 0.5 -> key 3; 0.3 = 0.3 tie between classes -> first map (3);
    # 0.25 = t tie with background -> 0; 0.7 = 0.7 -> first map (3).
    np.testing.assert_array_equal(seed, [[3, 3, 0, 3]])
    seed = cams_to_seed(cams, np.array([3, 7]), threshold=0.6)
    np.testing.assert_array_equal(seed, [[0, 0, 0, 3]])


def test_alpha_rule_by_hand():
    cams = np.array([[[0.5, 0.3, 0.4]], [[0.2, 0.1, 0.6]]])
    keys = np.array([2, 5])
    # alpha 2: bg = (1 - max)^2 = [0.25, 0.49, 0.16]
    np.testing.assert_allclose(background_score(cams, alpha=2),
                               [[0.25, 0.49, 0.16]],
                               rtol=1e-6)
    np.testing.assert_array_equal(cams_to_seed(cams, keys, alpha=2),
                                  [[2, 0, 5]])
    # alpha 0.5: bg = sqrt(1 - max) = [0.707, 0.837, 0.632] > max everywhere
    np.testing.assert_array_equal(cams_to_seed(cams, keys, alpha=0.5),
                                  [[0, 0, 0]])
    gt = np.array([[2, 0, 0]])
    conf = seed_confusions(cams, keys, gt, 5, alphas=[2, 0.5])
    # alpha 2: pixels (gt, pred) = (2,2) (0,0) (0,5)
    expected = np.zeros((6, 7), np.int64)
    expected[2, 2] = expected[0, 0] = expected[0, 5] = 1
    np.testing.assert_array_equal(conf[0], expected)
    s = segmentation_scores(conf[0])
    # IoU0 = 1 / (2 + 1 - 1), IoU2 = 1, IoU5 = 0 / 1
    assert s['miou'] == pytest.approx((0.5 + 1 + 0) / 3)


def test_rule_arguments_are_checked():
    cams = np.zeros((1, 2, 2))
    with pytest.raises(ValueError, match='exactly one'):
        cams_to_seed(cams, np.array([1]), threshold=0.1, alpha=1)
    with pytest.raises(ValueError, match='exactly one'):
        background_score(cams)
    with pytest.raises(ValueError, match='alpha must be > 0'):
        background_score(cams, alpha=0)
    gt = np.zeros((2, 2), int)
    with pytest.raises(ValueError, match='not both'):
        seed_confusions(cams,
                        np.array([1]),
                        gt,
                        2,
                        thresholds=[0.1],
                        alphas=[1])
    with pytest.raises(ValueError, match='repeated'):
        seed_confusions(cams, np.array([1]), gt, 2, thresholds=[0.1, 0.1])
    with pytest.raises(ValueError, match='empty'):
        seed_confusions(cams, np.array([1]), gt, 2, thresholds=[])
    with pytest.raises(ValueError, match=r'keys \[3\] must be in 1..2'):
        seed_confusions(cams, np.array([3]), gt, 2)
    with pytest.raises(ValueError, match='CAM size'):
        seed_confusions(cams, np.array([1]), np.zeros((3, 2), int), 2)


@pytest.mark.parametrize('rule', ['thresholds', 'alphas'])
def test_seed_confusions_equals_per_rule_loop(rule):
    rng = np.random.default_rng(0)
    c = 5
    # Quantised values so that ties (between maps and with t) occur.
    cams = rng.integers(0, 9, (3, 7, 8)) / 8.0
    keys = np.array([4, 1, 5])
    gt = rng.integers(0, c + 1, (7, 8))
    gt[0] = 255
    values = ([0.0, 0.125, 0.3, 0.5, 1.0]
              if rule == 'thresholds' else [0.5, 1.0, 3.0])
    fast = seed_confusions(cams, keys, gt, c, **{rule: values})
    for i, value in enumerate(values):
        kw = dict(threshold=value) if rule == 'thresholds' else dict(
            alpha=value)
        slow = confusion_matrix(cams_to_seed(cams, keys, **kw), gt, c)
        np.testing.assert_array_equal(fast[i], slow)


def test_image_without_maps_is_all_background():
    gt = np.array([[0, 1], [255, 0]])
    conf = seed_confusions(np.zeros((0, 2, 2)),
                           np.zeros(0, int),
                           gt,
                           1,
                           thresholds=[0.1])
    np.testing.assert_array_equal(conf[0], [[2, 0, 0], [1, 0, 0]])


def _miou_by_hand():
    """mIoU (fraction) of the tiny set at some thresholds (see conftest)."""
    return {
        # T = [10, 4, 4]; P = [2, 8, 8]; TP = [2, 4, 4]
        0.01: (2 / 10 + 4 / 8 + 4 / 8) / 3,
        # P = [4, 6, 8]; TP = [4, 4, 4]
        0.05: (4 / 10 + 4 / 6 + 4 / 8) / 3,
        0.2: 1.0,
        # P = [11, 3, 4]; TP = [10, 3, 4]
        0.25: (10 / 11 + 3 / 4 + 1.0) / 3,
    }


def test_sweep_picks_known_best_threshold(tiny_voc, monkeypatch):
    loads = []
    real_load = seeds_mod.load_cam_arrays

    def counting_load(path):
        loads.append(path)
        return real_load(path)

    monkeypatch.setattr(seeds_mod, 'load_cam_arrays', counting_load)
    result = evaluate_cam_dir(tiny_voc['cam_dir'],
                              tiny_voc['gt_dir'],
                              tiny_voc['ids'],
                              2,
                              split='train.txt')
    # One read per CAM file for the whole sweep of 15 thresholds.
    assert len(loads) == 2
    assert result.best['threshold'] == pytest.approx(0.2)
    assert result.best['miou'] == pytest.approx(100.0)
    curve = curve_dict(result)
    assert list(curve) == list(DEFAULT_THRESHOLDS)
    for t, miou in _miou_by_hand().items():
        assert curve[t] == pytest.approx(100 * miou, abs=1e-3), t
    proto = result.protocol
    assert proto.num_images == 2
    assert proto.skipped == {'no CAM file': ['c']}
    assert proto.num_scored_classes == 3
    assert proto.coverage == 100.0
    assert proto.split == 'train.txt'
    assert 'argmax over [t, CAMs]' in proto.threshold_rule
    # Per class at the best point, percent, class names of C = 2.
    assert list(result.per_class) == ['background', 'class1', 'class2']
    assert result.per_class['class1']['iou'] == pytest.approx(100.0)


def test_alpha_sweep_matches_independent_computation(tiny_voc):
    from mmcpal.evaluation import read_label_png
    from mmcpal.pseudo.cam_io import load_cams
    alphas = [0.5, 1.0, 4.0, 16.0]
    result = evaluate_cam_dir(tiny_voc['cam_dir'],
                              tiny_voc['gt_dir'],
                              tiny_voc['ids'],
                              2,
                              alphas=alphas)
    curve = curve_dict(result)
    for alpha in alphas:
        total = np.zeros((3, 4), np.int64)
        for img_id in ('a', 'b'):
            cams, keys = load_cams(f'{tiny_voc["cam_dir"]}/{img_id}.npz')
            gt = read_label_png(f'{tiny_voc["gt_dir"]}/{img_id}.png')
            seed = cams_to_seed(cams, keys, alpha=alpha)
            total += confusion_matrix(seed, gt, 2)
        expected = 100 * segmentation_scores(total)['miou']
        assert curve[alpha] == pytest.approx(expected, abs=1e-3)
    assert result.best['threshold'] is None
    assert result.best['alpha'] in alphas
    assert 'alpha' in result.protocol.threshold_rule


def test_alpha_by_hand_on_one_pixel_row(tmp_path, write_png):
    from mmcpal.pseudo.cam_io import save_cams
    (tmp_path / 'cams').mkdir()
    (tmp_path / 'gt').mkdir()
    # max cam 0.5: bg = 0.5 ** alpha -> fg iff alpha > 1.
    save_cams(str(tmp_path / 'cams' / 'x.npz'), np.full((1, 1, 2), 0.5),
              np.array([1]))
    write_png(tmp_path / 'gt' / 'x.png', np.array([[1, 1]]))
    result = evaluate_cam_dir(str(tmp_path / 'cams'),
                              str(tmp_path / 'gt'), ['x'],
                              1,
                              alphas=[0.5, 1.0, 2.0])
    curve = curve_dict(result)
    # alpha 0.5: bg 0.71 > 0.5 -> all background: IoU0 = 0 / 2, IoU1 = 0 / 2
    assert curve[0.5] == pytest.approx(0.0)
    # alpha 1: bg 0.5 = cam, a tie -> background again.
    assert curve[1.0] == pytest.approx(0.0)
    # alpha 2: bg 0.25 -> all class 1: IoU1 = 1, class 0 absent (not scored)
    assert curve[2.0] == pytest.approx(100.0)
    assert result.best['alpha'] == 2.0
    assert result.protocol.num_scored_classes == 1


def test_missing_cam_modes(tiny_voc):
    args = (tiny_voc['cam_dir'], tiny_voc['gt_dir'], tiny_voc['ids'], 2)
    with pytest.raises(FileNotFoundError, match='c.npz'):
        evaluate_cam_dir(*args, on_missing='error')
    res = evaluate_cam_dir(*args, on_missing='background', thresholds=[0.2])
    assert res.protocol.num_images == 3
    assert res.protocol.skipped == {}
    assert res.protocol.missing_as_background == ['c']
    assert res.best['miou'] == pytest.approx(100.0)
    assert 'scored as all background' in res.to_markdown()
    with pytest.raises(FileNotFoundError, match='x.png'):
        evaluate_cam_dir(*args[:2], ['x'], 2, on_missing='error')
    res = evaluate_cam_dir(*args[:2], ['a', 'x'], 2)
    assert res.protocol.skipped == {'no ground-truth PNG': ['x']}
    with pytest.raises(ValueError, match='no image'):
        evaluate_cam_dir(*args[:2], ['c'], 2)


def test_cam_type_and_bad_files(tiny_voc, tmp_path):
    res = evaluate_cam_dir(tiny_voc['cam_dir'],
                           tiny_voc['gt_dir'], ['a'],
                           2,
                           cam_type='pacam',
                           thresholds=[0.1])
    # PACAM is all zero: everything background.
    assert res.per_class['class1']['recall'] == 0.0
    assert "map 'pacam'" in res.protocol.source
    assert res.protocol.cam_type == 'pacam'
    assert '- map: pacam' in res.protocol.to_markdown()
    with pytest.raises(ValueError, match='cam_type must be one of'):
        evaluate_cam_dir(tiny_voc['cam_dir'],
                         tiny_voc['gt_dir'], ['a'],
                         2,
                         cam_type='nope')
    from mmcpal.pseudo.cam_io import MissingMapError, save_cams
    save_cams(f'{tiny_voc["cam_dir"]}/c.npz', np.zeros((1, 5, 5)),
              np.array([1]))
    with pytest.raises(MissingMapError, match=r"c.npz.*--cam-type pacam"):
        evaluate_cam_dir(tiny_voc['cam_dir'], tiny_voc['gt_dir'], ['c'], 2,
                         cam_type='fused')
    save_cams(f'{tiny_voc["cam_dir"]}/c.npz', np.zeros((1, 5, 5)),
              np.array([1]))
    with pytest.raises(ValueError, match=r'c.npz: CAM size \(5, 5\)'):
        evaluate_cam_dir(tiny_voc['cam_dir'], tiny_voc['gt_dir'], ['c'], 2)
    with pytest.raises(FileNotFoundError, match='CAM folder'):
        evaluate_cam_dir(str(tmp_path / 'none'), tiny_voc['gt_dir'], ['a'], 2)
    with pytest.raises(ValueError, match='on_missing'):
        evaluate_cam_dir(tiny_voc['cam_dir'],
                         tiny_voc['gt_dir'], ['a'],
                         2,
                         on_missing='ignore')


def test_report_markdown_and_json(tiny_voc, tmp_path):
    res = evaluate_cam_dir(tiny_voc['cam_dir'],
                           tiny_voc['gt_dir'],
                           tiny_voc['ids'],
                           2,
                           split='train.txt')
    text = res.to_markdown()
    assert text.index('**Protocol**') < text.index('| threshold | mIoU')
    assert '- images: 2 evaluated, 1 skipped (list: train.txt)' in text
    assert 'skipped, no CAM file: 1 (c)' in text
    assert '- CRF: no' in text
    assert '| **0.2** | **100.00** |' in text
    assert 'best: threshold 0.2, mIoU 100.00' in text
    out = tmp_path / 'r' / 'res.json'
    res.save_json(str(out))
    data = json.loads(out.read_text())
    assert set(data) >= {'protocol', 'best', 'curve', 'per_class'}
    assert data['best']['threshold'] == pytest.approx(0.2)
    assert data['best']['miou'] == pytest.approx(100.0)
    assert len(data['curve']) == len(DEFAULT_THRESHOLDS)
    assert data['protocol']['num_images'] == 2
    assert data['protocol']['num_skipped'] == 1
    assert data['protocol']['pred_ignore'] == 'wrong'
    assert data['protocol']['crf'] is False
    np.testing.assert_array_equal(data['confusion'], res.confusion)
    # Undefined scores (class2 absent from image 'a') are null, not NaN.
    res_a = evaluate_cam_dir(tiny_voc['cam_dir'], tiny_voc['gt_dir'], ['a'], 2)
    res_a.save_json(str(out))

    def no_constants(name):
        raise AssertionError(f'{name} in JSON')

    data = json.loads(out.read_text(), parse_constant=no_constants)
    assert data['per_class']['class2']['iou'] is None
    assert data['protocol']['num_scored_classes'] == 2
