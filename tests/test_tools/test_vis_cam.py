"""tools/vis_cam.py: class names from a config, explicit names, errors."""
import os.path as osp

import pytest

from mmcpal.datasets.synthetic import DEMO_CLASSES
from mmcpal.evaluation.label_io import VOC_CLASSES

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def vis_cam(load_script):
    return load_script('tools/vis_cam.py')


def test_class_names_from_the_config(vis_cam):
    demo = vis_cam.config_class_names(
        osp.join(REPO, 'configs/cam/cam_squeezenet_demo.py'))
    assert demo == [c for c in DEMO_CLASSES if c != 'background']
    assert 'bicycle' not in demo
    voc = vis_cam.config_class_names(
        osp.join(REPO, 'configs/cam/cam_squeezenet_voc12mini.py'))
    assert voc == list(VOC_CLASSES)


def _run(vis_cam, monkeypatch, *extra):
    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        return []
    monkeypatch.setattr(vis_cam, 'vis_cam_dir', fake)
    code = vis_cam.main(['--cam-dir', 'c', '--data-root', 'd', '--out-dir',
                         'o', '--ids', 'a', *extra])
    return code, seen


def test_the_names_reach_the_grid(vis_cam, monkeypatch):
    code, seen = _run(vis_cam, monkeypatch, '--config',
                      osp.join(REPO, 'configs/cam/cam_squeezenet_demo.py'))
    names = [c for c in DEMO_CLASSES if c != 'background']
    assert code == 0 and seen['class_names'] == names
    assert seen['num_classes'] == len(names)
    _, seen = _run(vis_cam, monkeypatch, '--class-names', 'cat', 'dog')
    assert seen['class_names'] == ['cat', 'dog'] and seen['num_classes'] == 2
    _, seen = _run(vis_cam, monkeypatch)
    assert seen['class_names'] is None and seen['num_classes'] == 20


def test_mismatched_num_classes_is_refused(vis_cam, monkeypatch):
    with pytest.raises(SystemExit, match='does not match the 2 class names'):
        _run(vis_cam, monkeypatch, '--class-names', 'cat', 'dog',
             '--num-classes', '3')
