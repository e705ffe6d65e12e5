"""Tests of the resumable, sharded per-image job runner."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from mmcpal.pseudo.jobs import (ImageReadError, SkipImage, load_image_checked,
                                run_image_job, shard_ids)
from mmcpal.pseudo.mask_io import is_complete, mask_path, save_mask

IDS = [f'img_{i:02d}' for i in range(7)]


def _write_mask(out_dir, img_id):
    """Deterministic mask content from the id."""
    seed = int(img_id.split('_')[1])
    mask = np.random.default_rng(seed).integers(0, 21, (40, 50))
    save_mask(mask_path(out_dir, img_id), mask.astype(np.uint8))


def _job(out_dir, ids=IDS, **kwargs):
    calls = []

    def process(img_id):
        calls.append(img_id)
        _write_mask(out_dir, img_id)

    summary = run_image_job(
        ids, process, lambda i: is_complete(mask_path(out_dir, i)),
        progress=False, log=lambda msg: None, **kwargs)
    return summary, calls


def test_resume_after_kill_gives_identical_outputs(tmp_path):
    clean, killed = str(tmp_path / 'clean'), str(tmp_path / 'killed')
    os.makedirs(clean)
    os.makedirs(killed)
    summary, _ = _job(clean)
    assert (summary.done, summary.skipped_done, summary.num_failed) == (7, 0,
                                                                        0)

    calls = []

    def process(img_id):
        calls.append(img_id)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed while working on the 3rd image
        _write_mask(killed, img_id)

    with pytest.raises(KeyboardInterrupt):
        run_image_job(IDS, process,
                      lambda i: is_complete(mask_path(killed, i)),
                      progress=False, log=lambda msg: None)
    assert sorted(os.listdir(killed)) == ['img_00.png', 'img_01.png']
    # a kill during a non-atomic copy would leave a truncated file: it must
    # be redone, not taken as finished
    data = open(mask_path(clean, 'img_05'), 'rb').read()
    with open(mask_path(killed, 'img_05'), 'wb') as f:
        f.write(data[:len(data) // 2])

    summary, calls = _job(killed)
    assert calls == ['img_02', 'img_03', 'img_04', 'img_05', 'img_06']
    assert (summary.total, summary.done, summary.skipped_done) == (7, 5, 2)
    for img_id in IDS:
        with open(mask_path(clean, img_id), 'rb') as a, \
                open(mask_path(killed, img_id), 'rb') as b:
            assert a.read() == b.read(), img_id

    summary, calls = _job(killed)  # everything finished: nothing to do
    assert calls == [] and summary.skipped_done == 7 and summary.done == 0


def test_explicit_shards_write_each_image_once(tmp_path):
    out = str(tmp_path)
    assert shard_ids(IDS, 1, 3) == ['img_01', 'img_04']
    written = []
    for rank in range(3):
        summary, calls = _job(out, rank=rank, world_size=3)
        assert calls == IDS[rank::3]
        assert summary.total == 7 and summary.done == len(calls)
        written += calls
    assert sorted(written) == IDS
    with pytest.raises(ValueError, match='both rank and world_size'):
        _job(out, rank=0)
    with pytest.raises(ValueError, match='rank < world_size'):
        _job(out, rank=2, world_size=2)
    with pytest.raises(ValueError, match='unique'):
        _job(out, ids=IDS + ['img_00'])


_WORKER = textwrap.dedent('''
    import json, os, sys
    import torch.distributed as torch_dist
    from mmcpal.pseudo.jobs import SkipImage, run_image_job
    from mmcpal.pseudo.mask_io import is_complete, mask_path, save_mask
    import numpy as np

    rank, port, out, ids = int(sys.argv[1]), sys.argv[2], sys.argv[3], \\
        sys.argv[4].split(',')
    torch_dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
        world_size=2)

    def process(img_id):
        # one marker per (id, rank, pid): counts the writes of every id
        open(os.path.join(out, 'markers', f'{img_id}.{rank}.{os.getpid()}'),
             'w').close()
        if img_id == 'img_05':
            raise SkipImage('bad input', img_id)
        save_mask(mask_path(out, img_id), np.full((3, 3), rank, np.uint8))

    summary = run_image_job(ids, process,
                            lambda i: is_complete(mask_path(out, i)),
                            progress=False)
    with open(os.path.join(out, f'summary{rank}.json'), 'w') as f:
        json.dump(dict(done=summary.done, skipped=summary.skipped_done,
                       total=summary.total, failed=summary.failed), f)
    torch_dist.destroy_process_group()
''')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_run_writes_each_image_once(tmp_path):
    out = str(tmp_path)
    os.makedirs(osp.join(out, 'markers'))
    _write_mask(out, 'img_02')  # finished by an earlier run
    script = tmp_path / 'worker.py'
    script.write_text(_WORKER)
    port = str(_free_port())
    env = dict(os.environ, OMP_NUM_THREADS='1')
    procs = [
        subprocess.Popen([
            sys.executable,
            str(script),
            str(rank), port, out, ','.join(IDS)
        ],
                         env=env,
                         stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT) for rank in range(2)
    ]
    logs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    markers = os.listdir(osp.join(out, 'markers'))
    written = sorted(m.split('.')[0] for m in markers)
    assert written == sorted(set(IDS) - {'img_02'})  # each exactly once
    for m in markers:  # by the rank that owns it (id i -> rank i % 2)
        img_id, rank, _ = m.split('.')
        assert IDS.index(img_id) % 2 == int(rank)
    for rank in range(2):  # counts gathered to every rank
        summary = json.load(open(osp.join(out, f'summary{rank}.json')))
        assert summary == dict(
            done=5, skipped=1, total=7, failed={'bad input': ['img_05']})
    # the summary is logged by rank 0
    assert 'failed (bad input): 1 [img_05]' in logs[0]


def _write_images(img_dir):
    os.makedirs(img_dir)
    yy, xx = np.mgrid[:96, :128]
    # smooth (JPEG keeps it close) and distinct channels: B, G ramps, R = 200
    img = np.stack([xx * 2, yy * 2, np.full_like(xx, 200)], -1).astype(
        np.uint8)
    cv2.imwrite(osp.join(img_dir, 'good.jpg'), img)
    with open(osp.join(img_dir, 'good.jpg'), 'rb') as f:
        data = f.read()
    # headers intact, last third of the scan data cut off
    with open(osp.join(img_dir, 'truncated.jpg'), 'wb') as f:
        f.write(data[:len(data) * 2 // 3])
    with open(osp.join(img_dir, 'corrupt.jpg'), 'wb') as f:
        f.write(b'not a jpeg at all' * 10)
    return img


def test_load_image_checked(tmp_path):
    img_dir = str(tmp_path / 'img')
    img = _write_images(img_dir)
    good = load_image_checked(osp.join(img_dir, 'good.jpg'))
    assert good.shape == (96, 128, 3) and good.dtype == np.uint8
    np.testing.assert_array_equal(good, cv2.imread(osp.join(img_dir,
                                                            'good.jpg')))
    # JPEG is lossy, but the decoded image is close to what was written,
    # in BGR order
    assert np.abs(good.astype(int) - img).mean() < 3
    assert abs(good[..., 2].mean() - 200) < 3
    for name, reason in [('truncated.jpg', 'truncated image'),
                         ('corrupt.jpg', 'unreadable image'),
                         ('missing.jpg', 'missing image')]:
        with pytest.raises(ImageReadError, match=name) as info:
            load_image_checked(osp.join(img_dir, name))
        assert info.value.reason == reason
        assert isinstance(info.value, OSError)


def test_bad_images_are_skipped_and_reported(tmp_path):
    img_dir, out = str(tmp_path / 'img'), str(tmp_path / 'out')
    _write_images(img_dir)
    os.makedirs(out)
    ids = ['good', 'truncated', 'corrupt', 'missing', 'boom', 'empty']
    messages = []

    def process(img_id):
        if img_id == 'boom':
            raise ZeroDivisionError('bug in process_fn')
        if img_id == 'empty':
            raise SkipImage('no foreground class')
        img = load_image_checked(osp.join(img_dir, img_id + '.jpg'))
        save_mask(mask_path(out, img_id), img[..., 0] // 128)

    summary = run_image_job(
        ids, process, lambda i: is_complete(mask_path(out, i)),
        desc='masks', log=messages.append, progress=False)
    assert summary.done == 1 and summary.skipped_done == 0
    assert summary.failed == {
        'truncated image': ['truncated'],
        'unreadable image': ['corrupt'],
        'missing image': ['missing'],
        'ZeroDivisionError': ['boom'],
        'no foreground class': ['empty'],
    }
    assert os.listdir(out) == ['good.png']
    assert any('boom' in m and 'bug in process_fn' in m for m in messages)
    assert any('corrupt' in m and 'corrupt.jpg' in m for m in messages)
    assert messages[-1].startswith('masks: 6 images: 1 done now')

    with pytest.raises(ZeroDivisionError):
        run_image_job(['boom'], process, lambda i: False,
                      catch_errors=False, progress=False,
                      log=lambda msg: None)
