"""benchmarks/quality.py: the map-type pieces (--cam-types), no training."""
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def quality(load_script):
    return load_script('benchmarks/quality.py')


def _args(quality, tmp_path, *extra):
    (tmp_path / 'JPEGImages').mkdir(exist_ok=True)
    return quality.parse_args(['--data', str(tmp_path), '--json',
                               str(tmp_path / 'q.json'), *extra])


def test_cam_types_default_and_order(quality, tmp_path):
    assert _args(quality, tmp_path).cam_types == ['cam']
    args = _args(quality, tmp_path, '--cam-types', 'fused', 'pacam')
    assert args.cam_types == ['cam', 'pacam', 'fused']
    with pytest.raises(SystemExit):
        _args(quality, tmp_path, '--cam-types', 'both')


def test_run_key_does_not_depend_on_cam_types(quality, tmp_path):
    """Cached CAM results stay valid; other settings still change it."""
    row = quality.ROWS[0]
    plain = _args(quality, tmp_path)
    more = _args(quality, tmp_path, '--cam-types', 'pacam', 'fused')
    other = _args(quality, tmp_path, '--bg-threshold', '0.2')
    assert quality.run_key(row, 0, plain) == quality.run_key(row, 0, more)
    assert quality.run_key(row, 0, plain) != quality.run_key(row, 0, other)


def test_missing_cam_types(quality):
    job = dict(refine='crf', cam_types=['cam', 'pacam', 'fused'])
    result = dict(masks={'crf': dict(miou=1.0)})
    assert quality.missing_cam_types(result, job) == ['pacam', 'fused']
    result['by_cam_type'] = dict(
        pacam=dict(masks={'none': dict(miou=2.0)}),
        fused=dict(skipped='no CPAL branch (model.cpal): no PACAM'))
    assert quality.missing_cam_types(result, job) == ['pacam']
    result['by_cam_type']['pacam']['masks']['crf'] = dict(miou=3.0)
    assert quality.missing_cam_types(result, job) == []
    assert quality.missing_cam_types(dict(masks={}), dict(refine='crf')) == [
        'cam']


def _run(seed, cam, pacam):
    return dict(
        seed=seed, seed_miou=cam, seed_thr=0.1, curve={'0.1': cam},
        fg_at_best_seed_thr=dict(pred_fg=20.0, gt_fg=25.0),
        masks={'crf': dict(miou=cam + 1, fg=dict(pred_fg=21.0))},
        by_cam_type=dict(pacam=dict(
            seed_miou=pacam, seed_thr=0.2,
            masks={'crf': dict(miou=pacam + 1)})),
        checkpoint='/nonexistent/train/epoch_1.pth')


def test_summary_and_table_per_map(quality):
    runs = [quality._pick_masks(_run(0, 10.0, 30.0), 'crf'),
            quality._pick_masks(_run(1, 20.0, 40.0), 'crf')]
    assert runs[0]['by_map']['pacam'] == dict(
        seed_miou=30.0, seed_thr=0.2, mask_miou=31.0, skipped=None)
    summary = quality.summarise(runs)
    assert summary['seed_miou'] == 15.0  # the CAM's numbers are unchanged
    assert summary['by_map']['pacam']['seed_miou'] == 35.0
    assert summary['by_map']['pacam']['mask_miou'] == 36.0
    assert summary['by_map']['cam']['mask_miou'] == 16.0
    lines = quality.maps_table(dict(cpal=summary), 'crf')
    text = '\n'.join(lines)
    assert '| cpal | pacam | 2 | 35.0' in text
    assert '| cpal | cam | 2 | 15.0' in text
    # CAM only: no extra table
    cam_only = quality.summarise([quality._pick_masks(
        dict(_run(0, 10.0, 0.0), by_cam_type={}), 'crf')])
    assert quality.maps_table(dict(baseline=cam_only), 'crf') == []
