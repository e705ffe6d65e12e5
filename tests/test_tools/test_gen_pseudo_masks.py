"""tools/gen_pseudo_masks.py end to end on tiny demo data: every stage,
resume, a corrupt image, and the printed protocol."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmcpal.models.cpal import parts_from_flat

CONFIG = 'configs/cam/cam_squeezenet_demo.py'


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory, repo):
    """An untrained (ImageNet backbone, random classifier) checkpoint."""
    from mmcpal.apis import init_model
    model = init_model(osp.join(repo, CONFIG))
    path = str(tmp_path_factory.mktemp('ckpt') / 'model.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def _run(repo, args, env=None):
    proc = subprocess.run(
        [sys.executable, 'tools/gen_pseudo_masks.py', CONFIG] + args,
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1', **(env or {})))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def test_all_stages_then_resume(repo, demo_root, checkpoint, tmp_path):
    out = str(tmp_path / 'pseudo')
    args = [
        checkpoint, '--out-dir', out, '--data-root', demo_root, '--scales',
        '1.0', '0.5', '--refine', 'none', '--bg-thr', '0.2',
        '--no-progress', '--json',
        str(tmp_path / 'report.json')
    ]
    log = _run(repo, args)
    ids = open(osp.join(demo_root, 'ImageSets/Segmentation/train.txt')).read().split()
    cams = sorted(os.listdir(osp.join(out, 'cams')))
    masks = sorted(os.listdir(osp.join(out, 'masks_none')))
    assert cams == sorted(f'{i}.npz' for i in ids)
    assert masks == sorted(f'{i}.png' for i in ids)
    report = json.load(open(tmp_path / 'report.json'))
    assert report['cams']['done'] == len(ids)
    seeds = json.load(open(osp.join(out, 'seed_eval.json')))
    assert seeds['protocol']['num_images'] == len(ids)
    assert seeds['protocol']['split'].endswith('train.txt')
    assert 0.0 <= seeds['best']['miou'] <= 100.0
    assert len(seeds['curve']) >= 10
    masks_eval = json.load(open(osp.join(out, 'mask_eval.json')))
    assert 'bg threshold 0.2' in masks_eval['protocol']['source']
    assert 'threshold' in log and 'mIoU' in log

    # A mask is exactly the seed of its CAM file at the fixed threshold.
    from mmcpal.evaluation.seeds import cams_to_seed
    from mmcpal.pseudo import load_cams, load_mask
    c, k = load_cams(osp.join(out, 'cams', f'{ids[0]}.npz'))
    seed = cams_to_seed(c, k, threshold=0.2)
    assert np.array_equal(load_mask(osp.join(out, 'masks_none',
                                             f'{ids[0]}.png')), seed)

    # Resume: nothing is recomputed; a deleted output is redone.
    os.remove(osp.join(out, 'masks_none', f'{ids[3]}.png'))
    before = os.path.getmtime(osp.join(out, 'cams', f'{ids[0]}.npz'))
    _run(repo, args)
    report = json.load(open(tmp_path / 'report.json'))
    assert report['cams']['done'] == 0
    assert report['cams']['skipped_done'] == len(ids)
    assert report['masks']['done'] == 1
    assert os.path.getmtime(osp.join(out, 'cams', f'{ids[0]}.npz')) == before


def test_corrupt_image_is_skipped_and_reported(repo, demo_root, checkpoint,
                                               tmp_path):
    import shutil
    root = str(tmp_path / 'demo')
    shutil.copytree(demo_root, root)
    ids = open(osp.join(root, 'ImageSets/Segmentation/train.txt')).read().split()
    with open(osp.join(root, 'JPEGImages', f'{ids[1]}.jpg'), 'wb') as f:
        f.write(b'not a jpeg')
    out = str(tmp_path / 'pseudo')
    _run(repo, [
        checkpoint, '--out-dir', out, '--data-root', root, '--scales', '0.5',
        '--stages', 'cams', '--no-progress', '--json',
        str(tmp_path / 'r.json')
    ])
    report = json.load(open(tmp_path / 'r.json'))
    assert report['cams']['done'] == len(ids) - 1
    assert sum(report['cams']['failed'].values()) == 1
    assert not osp.exists(osp.join(out, 'cams', f'{ids[1]}.npz'))


IRN_CONFIG = 'configs/irn/irn_squeezenet_demo.py'


def test_refine_rw_is_irns_random_walk_of_the_cams(repo, demo_root,
                                                   checkpoint, tmp_path):
    """--refine rw: every mask is irn_refine of its CAM file with the given
    options; the protocol names the walk; a missing IRN is refused."""
    from mmcpal.apis import init_model
    from mmcpal.pseudo import load_cams, load_mask
    from mmcpal.pseudo.jobs import load_image_checked
    from mmcpal.pseudo.random_walk import irn_refine
    irn = init_model(osp.join(repo, IRN_CONFIG))  # untrained boundary head
    irn_ckpt = str(tmp_path / 'irn.pth')
    torch.save({'state_dict': irn.state_dict()}, irn_ckpt)
    out = str(tmp_path / 'pseudo')
    proc = subprocess.run(
        [sys.executable, 'tools/gen_pseudo_masks.py', CONFIG, checkpoint,
         '--out-dir', out, '--refine', 'rw'], cwd=repo, capture_output=True,
        text=True, timeout=600)
    assert proc.returncode == 2
    assert '--refine rw needs --irn-config and --irn-checkpoint' in \
        proc.stderr

    _run(repo, [
        checkpoint, '--out-dir', out, '--data-root', demo_root, '--scales',
        '1.0', '--refine', 'rw', '--irn-config', IRN_CONFIG,
        '--irn-checkpoint', irn_ckpt, '--rw-exp-times', '3', '--rw-bg-thr',
        '0.3', '--no-progress'
    ])
    ids = open(osp.join(demo_root,
                        'ImageSets/Segmentation/train.txt')).read().split()
    assert sorted(os.listdir(osp.join(out, 'masks_rw'))) == sorted(
        f'{i}.png' for i in ids)
    masks_eval = json.load(open(osp.join(out, 'mask_eval.json')))
    source = masks_eval['protocol']['source']
    assert 'IRN random walk' in source and 'exp_times 3' in source
    assert 'bg 0.3' in source
    for img_id in ids[:2]:
        cams, keys = load_cams(osp.join(out, 'cams', f'{img_id}.npz'))
        img = load_image_checked(
            osp.join(demo_root, 'JPEGImages', f'{img_id}.jpg'))
        tensor = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0,
                                                                     1)))
        inputs = irn.data_preprocessor({'inputs': [tensor]}, False)['inputs']
        expected = irn_refine(irn, inputs, cams, keys, exp_times=3,
                              bg_thres=0.3, cam_power=1.3)
        got = load_mask(osp.join(out, 'masks_rw', f'{img_id}.png'))
        assert np.array_equal(got, expected)
        assert set(np.unique(got)) <= {0} | set(keys.tolist())


# The first reading, tiny (the parts form of the flat arguments).
TINY_CPAL = parts_from_flat(in_channels=256 + 512, embed_dims=32,
                            bank_size=50, num_clusters=4, num_neighbours=2)


@pytest.fixture(scope='module')
def cpal_config(tmp_path_factory, repo):
    """The demo CAM config with a small CPAL branch (fire5 + fire9)."""
    path = str(tmp_path_factory.mktemp('cfg') / 'cam_cpal_demo.py')
    with open(path, 'w') as f:
        f.write(f"_base_ = [{osp.join(repo, CONFIG)!r}]\n"
                f"model = dict(cpal=dict(_delete_=True, "
                f"**{TINY_CPAL!r}))"
                '\n')
    return path


@pytest.fixture(scope='module')
def cpal_checkpoint(tmp_path_factory, cpal_config):
    """An untrained CAM + CPAL checkpoint with known context prototypes."""
    from mmcpal.apis import init_model
    model = init_model(cpal_config)
    g = torch.Generator().manual_seed(0)
    branch = model.cpal
    branch.context.copy_(torch.randn(branch.context.shape, generator=g))
    branch.context_count.fill_(branch.num_clusters)
    branch.num_updates.fill_(1)
    path = str(tmp_path_factory.mktemp('ckpt') / 'cpal.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def _run_config(repo, config, args):
    return subprocess.run(
        [sys.executable, 'tools/gen_pseudo_masks.py', config] + args,
        cwd=repo, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1'))


def _small_split(demo_root, n=4):
    ids = open(osp.join(demo_root,
                        'ImageSets/Segmentation/train.txt')).read().split()
    name = 'ImageSets/Segmentation/pacam_small.txt'
    with open(osp.join(demo_root, name), 'w') as f:
        f.write('\n'.join(ids[:n]) + '\n')
    return name, ids[:n]


def test_cam_type_pacam_end_to_end(repo, demo_root, cpal_config,
                                   cpal_checkpoint, tmp_path):
    """--cam-type pacam stores the PACAM; its masks are refine() of the
    stored pacam array and differ from the --cam-type cam masks; the
    protocols name the map; eval_seeds --cam-type scores the same."""
    from mmcpal.pseudo import load_mask
    from mmcpal.pseudo.cam_io import load_cam_arrays
    from mmcpal.pseudo.refine import refine_cams
    split, ids = _small_split(demo_root)
    out = str(tmp_path / 'pseudo')
    common = [cpal_checkpoint, '--out-dir', out, '--data-root', demo_root,
              '--split', split, '--scales', '1.0', '0.5', '--refine',
              'none', '--bg-thr', '0.3', '--no-progress']
    proc = _run_config(repo, cpal_config, common + ['--cam-type', 'pacam'])
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert '- map: pacam' in proc.stdout
    proc = _run_config(repo, cpal_config, common + [
        '--cam-type', 'cam', '--stages', 'masks', 'eval'])
    assert proc.returncode == 0, proc.stderr[-4000:]
    seeds = json.load(open(osp.join(out, 'seed_eval_pacam.json')))
    assert seeds['protocol']['cam_type'] == 'pacam'
    masks_eval = json.load(open(osp.join(out, 'mask_eval_pacam.json')))
    assert masks_eval['protocol']['cam_type'] == 'pacam'
    assert "'pacam' maps" in masks_eval['protocol']['source']
    assert json.load(open(osp.join(
        out, 'mask_eval.json')))['protocol']['cam_type'] == 'cam'
    differ = 0
    for img_id in ids:
        arrays = load_cam_arrays(osp.join(out, 'cams', f'{img_id}.npz'))
        assert arrays['pacam'].shape == arrays['cams'].shape
        for cam_type, key in (('pacam', 'pacam'), ('cam', 'cams')):
            sub = 'masks_none' + ('_pacam' if cam_type == 'pacam' else '')
            mask = load_mask(osp.join(out, sub, f'{img_id}.png'))
            expected = refine_cams(arrays[key].astype(np.float32),
                                   arrays['keys'], None, method='none',
                                   bg_threshold=0.3)
            assert np.array_equal(mask, expected), (img_id, cam_type)
        pacam_mask = load_mask(osp.join(out, 'masks_none_pacam',
                                        f'{img_id}.png'))
        cam_mask = load_mask(osp.join(out, 'masks_none', f'{img_id}.png'))
        differ += int((pacam_mask != cam_mask).sum())
    assert differ > 0

    # eval_seeds --cam-type reads the stored PACAM: same score as the chain
    for cam_type, ref in (('pacam', seeds), ('cam', None)):
        path = str(tmp_path / f'eval_{cam_type}.json')
        res = subprocess.run(
            [sys.executable, 'tools/eval_seeds.py', '--cam-dir',
             osp.join(out, 'cams'), '--data-root', demo_root,
             '--split-file', split, '--num-classes', '6', '--cam-type',
             cam_type, '--json', path],
            cwd=repo, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-4000:]
        assert f'- map: {cam_type}' in res.stdout
        scored = json.load(open(path))
        assert scored['protocol']['cam_type'] == cam_type
        if ref is not None:
            assert scored['best']['miou'] == ref['best']['miou']
        else:
            assert scored['curve'] != seeds['curve']


def test_cam_type_errors(repo, demo_root, checkpoint, tmp_path):
    """A model without a CPAL branch, and CAM files without a PACAM, are
    refused with messages that name the fix."""
    split, _ = _small_split(demo_root)
    out = str(tmp_path / 'pseudo')
    common = [checkpoint, '--out-dir', out, '--data-root', demo_root,
              '--split', split, '--scales', '0.5', '--refine', 'none',
              '--no-progress']
    proc = _run_config(repo, CONFIG, common + ['--cam-type', 'pacam'])
    assert proc.returncode != 0
    assert 'no CPAL branch (model.cpal)' in proc.stderr
    assert not osp.exists(osp.join(out, 'cams')) or not os.listdir(
        osp.join(out, 'cams'))
    proc = _run_config(repo, CONFIG, common + ['--stages', 'cams'])
    assert proc.returncode == 0, proc.stderr[-4000:]
    proc = _run_config(repo, CONFIG, common + ['--stages', 'masks',
                                               '--cam-type', 'fused'])
    assert proc.returncode != 0
    assert '.npz' in proc.stderr
    assert 're-run the cams stage with --cam-type pacam' in proc.stderr
    res = subprocess.run(
        [sys.executable, 'tools/eval_seeds.py', '--cam-dir',
         osp.join(out, 'cams'), '--data-root', demo_root, '--split-file',
         split, '--num-classes', '6', '--cam-type', 'pacam'],
        cwd=repo, capture_output=True, text=True, timeout=600)
    assert res.returncode != 0
    assert '--cam-type pacam' in res.stderr


def test_cam_type_from_model_test_cfg(cpal_config):
    """model.test_cfg.cam_type is the default; the argument wins."""
    from mmengine.config import Config

    from mmcpal.apis.pseudo import resolve_cam_type
    cfg = Config(dict(model=dict(type='CAMClassifier',
                                 test_cfg=dict(cam_type='fused'))))
    assert resolve_cam_type(None, cfg) == 'fused'
    assert resolve_cam_type('cam', cfg) == 'cam'
    assert resolve_cam_type(None, Config(dict(model=dict()))) == 'cam'
    with pytest.raises(ValueError, match='cam_type must be one of'):
        resolve_cam_type('both', cfg)
    from mmcpal.apis import init_model
    cfg = Config.fromfile(cpal_config)
    cfg.model.test_cfg = dict(cam_type='pacam')
    model = init_model(cfg)
    assert model.test_cfg == dict(cam_type='pacam')
