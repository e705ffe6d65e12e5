"""tools/prepare_voc.py and tools/prepare_coco.py: arguments to results."""
import importlib.util
import json
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def _tool(name):
    spec = importlib.util.spec_from_file_location(
        f'{name}_tool', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_voc_tool(voc_inputs, prep, capsys):
    tool = _tool('prepare_voc')
    out = str(voc_inputs.tmp / 'out')
    summary = str(voc_inputs.tmp / 'summary.json')
    # The tiny inputs are partial by the official counts.
    assert tool.main(
        ['--voc', voc_inputs.voc, '--sbd', voc_inputs.sbd, '--out', out]) == 1
    assert 'expected 10582' in capsys.readouterr().err
    with pytest.warns(UserWarning, match='partial input'):
        assert tool.main([
            '--voc', voc_inputs.voc, '--sbd', voc_inputs.sbd, '--out', out,
            '--allow-partial', '--label-source', 'mask', '--json', summary
        ]) == 0
    assert 'train_aug' in capsys.readouterr().out
    with open(summary) as f:
        assert json.load(f)['counts']['train_aug'] == len(prep.TRAIN_AUG)
    with open(osp.join(out, 'ImageSets/Segmentation/train_aug.txt')) as f:
        assert f.read().split() == prep.TRAIN_AUG


def test_prepare_coco_tool(coco_inputs, capsys):
    tool = _tool('prepare_coco')
    out = str(coco_inputs.tmp / 'out')
    summary = str(coco_inputs.tmp / 'summary.json')
    with pytest.warns(UserWarning, match='partial input'):
        assert tool.main([
            '--ann-dir', coco_inputs.ann_dir, '--out', out, '--img-root',
            coco_inputs.img_root, '--workers', '2', '--allow-partial',
            '--crowd', 'ignore', '--json', summary
        ]) == 0
    with open(summary) as f:
        counts = json.load(f)['counts']
    assert counts['train_images'] == 3 and counts['val_images'] == 2
    assert 'crowd=ignore' in capsys.readouterr().out
    assert tool.main(['--ann-dir', coco_inputs.ann_dir, '--out', out]) == 1
    assert "crowd='ignore'; use overwrite" in capsys.readouterr().err
    assert tool.main(['--ann-dir',
                      str(coco_inputs.tmp), '--out', out + '2']) == 1
    assert 'instances_train2014.json' in capsys.readouterr().err
