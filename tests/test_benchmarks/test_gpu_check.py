"""benchmarks/gpu_check.py: ``--device cpu --quick`` end to end, a forced
failure in one section, and the pieces that decide pass / skip."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'benchmarks', 'gpu_check.py')


@pytest.fixture(scope='module')
def gpu_check():
    spec = importlib.util.spec_from_file_location('gpu_check_bench', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path, *extra):
    out_json = tmp_path / 'gpu_check.json'
    out_md = tmp_path / 'gpu_check.md'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, SCRIPT, '--device', 'cpu', '--quick', '--json',
         str(out_json), '--md', str(out_md), *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(out_json) as f:
        report = json.load(f)
    return report, proc.stdout, out_md.read_text()


def _numbers(obj):
    """Every int / float leaf (bools excluded) of a JSON value."""
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in _numbers(x)]
    if isinstance(obj, list):
        return [v for x in obj for v in _numbers(x)]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return [obj]
    return []


def _items(section):
    """The item dicts of a section (those with a ``status``)."""
    return {k: v for k, v in section.items()
            if isinstance(v, dict) and 'status' in v}


def _assert_figure_or_reason(name, entry):
    assert entry['status'] in ('ok', 'skipped'), (name, entry)
    if entry['status'] == 'skipped':
        assert isinstance(entry['skipped'], str) and entry['skipped'], name
    else:
        assert _numbers({k: v for k, v in entry.items()
                         if k != 'seconds'}), f'{name}: no figure'


def test_quick_cpu_every_section_has_a_figure_or_a_reason(
        gpu_check, tmp_path):
    report, stdout, md = _run(tmp_path)
    assert report['device'] == 'cpu' and report['quick'] is True
    assert list(report['sections']) == list(gpu_check.SECTIONS)
    for name, section in report['sections'].items():
        _assert_figure_or_reason(name, section)
        for item_name, item in _items(section).items():
            _assert_figure_or_reason(f'{name}.{item_name}', item)
        assert section['rows'], name
        for _, text in section['rows']:
            assert f'| {name} |' in md
            assert text.replace('|', '/') in md
    sec = report['sections']
    # CUDA-only figures skip with their reason on CPU
    assert sec['train_step']['fp16']['status'] == 'skipped'
    assert 'no CUDA' in sec['train_step']['fp16']['skipped']
    assert sec['train_step']['bf16']['status'] == 'ok'
    for size in sec['random_walk']['sizes']:
        walk = sec['random_walk'][size]
        assert walk['peak_mem_mb'] is None
        assert walk['peak_mem_mb_skipped'] == gpu_check.NO_CUDA_MEM
        assert walk['seconds_per_image'] > 0
    for backbone in ('squeezenet', 'resnet50'):
        cam = sec['multiscale_cam'][backbone]
        assert cam['status'] == 'ok' and cam['max_abs_diff'] < 1e-3
    for key in ('labels_21', 'labels_3'):
        assert sec['crf'][key]['torch_s_per_image'] > 0
    assert max(sec['crf']['labels_3']['active_labels']) <= 3
    dist = sec['dist_resume']
    assert dist['backend'] == 'gloo' and dist['ok'], dist
    assert dist['log_says_resumed'] and dist['restored']
    assert '| section | item | result |' in stdout


def test_forced_failure_does_not_stop_the_others(tmp_path):
    report, stdout, md = _run(tmp_path, '--sections', 'environment', 'crf',
                              'random_walk', '--fail-section', 'crf')
    sec = report['sections']
    assert list(sec) == ['environment', 'crf', 'random_walk']
    assert sec['crf']['status'] == 'error'
    assert 'forced failure' in sec['crf']['error']
    assert sec['environment']['status'] == 'ok'
    assert sec['random_walk']['status'] == 'ok'
    assert '| crf |  | error: RuntimeError: forced failure' in md


def test_guard_records_the_exception(gpu_check):
    def boom():
        raise ValueError('bad shape')

    out = gpu_check.guard(boom)
    assert out['status'] == 'error' and out['error'] == 'ValueError: bad ' \
        'shape'
    assert gpu_check.guard(lambda: dict(x=1.0)) == dict(x=1.0, status='ok')


def test_precision_skip(gpu_check):
    cpu = torch.device('cpu')
    assert 'no CUDA' in gpu_check.precision_skip('fp16', cpu)
    assert gpu_check.precision_skip('bf16', cpu) is None
    assert gpu_check.precision_skip('fp32', cpu) is None


def test_crf_probs_active_labels(gpu_check):
    gt = np.zeros((20, 30), np.uint8)
    gt[:, 10:15], gt[:, 15:20], gt[:, 20:] = 3, 7, 9
    gt[0, 0] = 255
    for active, expect in ((21, 21), (3, 3), (2, 2)):
        probs = gpu_check.crf_probs(gt, active, sigma=2.0)
        assert probs.shape == (21, 20, 30)
        kept = (probs.reshape(21, -1).max(1) >= 1e-4).sum()
        assert kept == expect


def _bank_state(counts, cap=4, embed=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    bank = torch.zeros(len(counts), cap, embed)
    for c, n in enumerate(counts):
        bank[c, :n] = torch.rand(n, embed, generator=gen)
    prefix = 'cpal.bank.'
    return {prefix + 'bank': bank,
            prefix + 'bank_count': torch.tensor(counts),
            prefix + 'bank_ptr': torch.tensor(counts) % cap}


def test_bank_restored(gpu_check):
    first = _bank_state([1, 2, 0])
    resumed = {k: v.clone() for k, v in first.items()}
    resumed['cpal.bank.bank'][0, 1] = 5.0  # a later entry
    resumed['cpal.bank.bank_count'][0] = 2
    res = gpu_check.bank_restored(first, resumed)
    assert res['restored'] and res['classes_compared'] == [0, 1]
    assert (res['bank_count_first'], res['bank_count_second']) == (3, 4)
    # a bank started afresh at resume: other entries in the first slots
    fresh = _bank_state([2, 2, 1], seed=1)
    assert not gpu_check.bank_restored(first, fresh)['restored']
    # an empty first bank proves nothing
    empty = _bank_state([0, 0, 0])
    assert not gpu_check.bank_restored(empty, fresh)['restored']
