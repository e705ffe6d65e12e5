"""tools/diagnose_cpal.py end to end on tiny demo data: the report, the demo
sub-type purity path, an attached branch, clear errors, and a bank that the
run leaves unchanged."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

CPAL_CONFIG = 'configs/cpal/cam_cpal_squeezenet_demo.py'
BASE_CONFIG = 'configs/cam/cam_squeezenet_demo.py'


def _train_batches(model, demo_root, n_batches=3, batch=4, side=96):
    """Fill the bank with a few loss() calls (no optimiser step)."""
    from mmcpal.apis.pseudo import image_records
    from mmcpal.pseudo.multiscale import preprocess
    from mmcpal.structures import WSSSDataSample
    records, _ = image_records(model.cfg, data_root=demo_root)
    records = [r for r in records if r.label.sum() > 0]
    model.train()
    for i in range(n_batches):
        chunk = records[i * batch:(i + 1) * batch]
        imgs = np.stack([
            cv2.resize(cv2.imread(r.img_path), (side, side))
            for r in chunk
        ]).transpose(0, 3, 1, 2)
        inputs = preprocess(model, torch.from_numpy(imgs.copy()))
        samples = []
        for r in chunk:
            s = WSSSDataSample()
            s.gt_label = torch.from_numpy(r.label)
            samples.append(s)
        with torch.no_grad():
            model.loss(inputs, samples)
    model.eval()


@pytest.fixture(scope='module')
def cpal_checkpoint(tmp_path_factory, repo, demo_root):
    """A CPAL model whose bank holds prototypes and is clustered."""
    from mmcpal.apis import init_model
    torch.manual_seed(0)
    model = init_model(osp.join(repo, CPAL_CONFIG))
    _train_batches(model, demo_root)
    assert int(model.cpal.bank.bank_count.sum()) > 0
    model.cpal.update_context()
    assert int((model.cpal.context_count > 0).sum()) > 0
    path = str(tmp_path_factory.mktemp('ckpt') / 'cpal.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture(scope='module')
def base_checkpoint(tmp_path_factory, repo):
    from mmcpal.apis import init_model
    model = init_model(osp.join(repo, BASE_CONFIG))
    path = str(tmp_path_factory.mktemp('ckpt') / 'base.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def _run(repo, args, ok=True):
    proc = subprocess.run(
        [sys.executable, 'tools/diagnose_cpal.py'] + args,
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    if ok:
        assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_report_oracle_with_subtypes(repo, demo_root, cpal_checkpoint,
                                     tmp_path):
    out_json, out_md = str(tmp_path / 'd.json'), str(tmp_path / 'd.md')
    _run(repo, [
        CPAL_CONFIG, cpal_checkpoint, '--data-root', demo_root, '--limit',
        '10', '--scale', '128', '--oracle', '--grad-batch', '2',
        '--no-progress', '--out-json', out_json, '--out-md', out_md
    ])
    report = json.load(open(out_json))
    proto = report['protocol']
    assert proto['images'] == 10 and proto['scale'] == 'long side 128 px'
    assert proto['prototypes'].startswith('oracle')
    assert proto['branch'].startswith('trained')
    for key in ('cam', 'pacam'):
        sep = report['separation'][key]
        assert 0.0 <= sep['auc'] <= 1.0
        assert 0.0 <= sep['bg_channel_on_gt_bg'] <= 1.0
        assert 0.0 <= sep['argmax_miou'] <= 1.0
    nb = report['neighbours']
    assert nb['pairs_with_context'] > 0
    assert 1.0 - 1e-6 <= nb['effective_neighbours'] <= 5.0 + 1e-6  # K = 5
    assert nb['chosen_over_median'] > 0
    bank = report['bank']
    assert bank['capacity'] == 200
    for row in bank['per_class']:
        if row['clusters']:
            assert sum(row['sizes']) == row['count']
    st = report['subtypes']
    assert st['objects'] > 0 and st['mask'].startswith('ground truth')
    assert 0.0 < st['purity'] <= 1.0 and 0.0 <= st['nmi'] <= 1.0
    # any clustering is at least as pure as a single cluster
    assert st['purity'] >= st['majority'] - 1e-9
    rel = report['reliable_masks']
    assert rel['tau'] == pytest.approx(0.1)
    assert 0.0 <= rel['recall'] <= 1.0
    assert 0.0 <= report['loss_self']['bg_share'] <= 1.0
    grads = report['gradients']
    assert grads['images'] == 2 and grads['cls_loss'] == 'loss_cls'
    for g in ('backbone', 'classifier'):
        assert grads[g]['cls_norm'] > 0
        assert -1.0 <= grads[g]['cosine'] <= 1.0
    assert report['bank_unchanged'] is True
    md = open(out_md).read()
    assert '| checkpoint | ' + cpal_checkpoint in md
    assert 'oracle' in md and 'purity' in md and 'AUC' in md


def test_bank_and_state_unchanged_in_process(repo, demo_root,
                                             cpal_checkpoint):
    from mmcpal.apis import init_model
    from mmcpal.apis.pseudo import image_records
    from mmcpal.evaluation.cpal_diagnostics import diagnose, load_scenes
    model = init_model(osp.join(repo, CPAL_CONFIG), cpal_checkpoint)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    records, names = image_records(model.cfg, data_root=demo_root)
    report = diagnose(model, records[:4], names, long_side=96,
                      scenes=load_scenes(demo_root), grad_batch=2)
    after = model.state_dict()
    for k, v in before.items():
        assert torch.equal(v, after[k]), k
    assert not model.training
    # not oracle: the objects' prototypes come from the reliable masks
    assert report['subtypes']['mask'].startswith('reliable mask')


def test_single_context_prototype_purity_is_majority(repo, demo_root,
                                                     cpal_checkpoint):
    """One context prototype per class: purity = majority share, NMI = 0."""
    from mmcpal.apis import init_model
    from mmcpal.apis.pseudo import image_records
    from mmcpal.evaluation.cpal_diagnostics import diagnose, load_scenes
    model = init_model(osp.join(repo, CPAL_CONFIG), cpal_checkpoint)
    branch = model.cpal
    branch.context_count.copy_((branch.context_count > 0).long())
    records, names = image_records(model.cfg, data_root=demo_root)
    report = diagnose(model, records[:12], names, long_side=96, oracle=True,
                      scenes=load_scenes(demo_root), grad_batch=0)
    st = report['subtypes']
    assert st['objects'] > 0
    for row in st['per_class']:
        assert row['purity'] == pytest.approx(row['majority'])
        assert row['nmi'] == 0.0 or row['majority'] == 1.0
    for row in report['bank']['per_class']:
        if row['clusters']:
            assert row['sizes'] == [row['count']]
    # a single neighbour: exp(H) = 1 exactly, chosen centre = the median
    assert report['neighbours']['effective_neighbours'] == pytest.approx(1.0)
    assert report['neighbours']['chosen_over_median'] == pytest.approx(1.0)
    assert 'gradients' not in report


def test_attached_branch_on_baseline(repo, demo_root, base_checkpoint,
                                     tmp_path):
    out_json = str(tmp_path / 'd.json')
    _run(repo, [
        BASE_CONFIG, base_checkpoint, '--data-root', demo_root, '--limit',
        '4', '--scale', '96', '--attach-branch', CPAL_CONFIG,
        '--no-progress', '--out-json', out_json
    ])
    report = json.load(open(out_json))
    assert 'attached from' in report['protocol']['branch']
    assert 'inference only' in report['protocol']['branch']
    assert 'gradients' not in report
    nb = report['neighbours']
    assert nb['pairs_with_context'] == 0
    assert nb['pairs_fallback'] == nb['pairs_present'] - nb[
        'pairs_without_pacam']
    assert report['bank']['classes_clustered'] == 0


def test_no_context_uses_each_images_own_prototype(repo, demo_root,
                                                   cpal_checkpoint, tmp_path):
    out_json = str(tmp_path / 'd.json')
    _run(repo, [
        CPAL_CONFIG, cpal_checkpoint, '--data-root', demo_root, '--limit',
        '4', '--scale', '96', '--no-context', '--grad-batch', '0',
        '--no-progress', '--out-json', out_json
    ])
    report = json.load(open(out_json))
    assert 'context prototypes ignored' in report['protocol']['branch']
    nb = report['neighbours']
    assert nb['pairs_with_context'] == 0 and nb['pairs_fallback'] > 0
    ckpt = torch.load(cpal_checkpoint, map_location='cpu',
                      weights_only=False)
    assert int(ckpt['state_dict']['cpal.context_count'].sum()) > 0


def test_errors_are_one_line(repo, demo_root, base_checkpoint, tmp_path):
    proc = _run(repo, [BASE_CONFIG, base_checkpoint, '--data-root',
                       demo_root], ok=False)
    assert proc.returncode != 0
    assert 'no CPAL branch' in proc.stderr and '--attach-branch' in \
        proc.stderr
    assert 'Traceback' not in proc.stderr

    proc = _run(repo, [CPAL_CONFIG, str(tmp_path / 'missing.pth')], ok=False)
    assert proc.returncode != 0 and 'checkpoint not found' in proc.stderr
    assert 'Traceback' not in proc.stderr

    bad = tmp_path / 'corrupt.pth'
    bad.write_bytes(b'not a checkpoint')
    proc = _run(repo, [CPAL_CONFIG, str(bad)], ok=False)
    assert proc.returncode != 0 and 'cannot load checkpoint' in proc.stderr
    assert 'Traceback' not in proc.stderr

    proc = _run(repo, ['configs/none.py', str(bad)], ok=False)
    assert proc.returncode != 0 and 'config file not found' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_amn_host(repo, demo_root, tmp_path):
    """AMN: maps through its own branch call; no IR labels -> no gradients."""
    from mmcpal.apis import init_model
    config = 'configs/cpal/amn_cpal_squeezenet_demo.py'
    model = init_model(osp.join(repo, config))
    ckpt = str(tmp_path / 'amn.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out_json = str(tmp_path / 'd.json')
    _run(repo, [
        config, ckpt, '--data-root', demo_root, '--limit', '3', '--scale',
        '96', '--no-progress', '--out-json', out_json
    ])
    report = json.load(open(out_json))
    assert 0.0 <= report['separation']['pacam']['auc'] <= 1.0
    assert 'IR labels' in report['gradients']['skipped']
    assert report['bank_unchanged'] is True
