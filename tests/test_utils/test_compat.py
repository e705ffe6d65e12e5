"""Each fix has a test that fails without it, on the stack it is for.

The scope fix is for the fork stack (tested on the forks installed here) and
must leave upstream alone (upstream simulated by monkeypatching
``mmcpal.stack.installed_version``). The CPU DDP fix is for any stack without
CUDA (upstream has the same bug) and must do nothing where CUDA or no
launcher is used.
"""
import os
import subprocess
import sys
import textwrap

import pytest
from mmengine.config import Config
from mmengine.config import utils as config_utils

from mmcpal import stack
from mmcpal.utils.compat import register_config_scopes, setup_cpu_distributed


@pytest.fixture
def pristine_scopes(monkeypatch):
    """MODULE2PACKAGE as mmengine ships it (upstream distribution names)."""
    table = dict(config_utils.MODULE2PACKAGE)
    table['mmseg'] = 'mmsegmentation'
    table['mmpretrain'] = 'mmpretrain'
    table.pop('mmcpal', None)
    monkeypatch.setattr(config_utils, 'MODULE2PACKAGE', table)
    return table


def _write(path, text):
    path.write_text(textwrap.dedent(text))
    return str(path)


ON_FORKS = pytest.mark.skipif(
    not stack.fork_installed('mmseg'),
    reason='the scope fix is for the onedl forks; upstream is tested below')


@ON_FORKS
def test_mmseg_inheritance_needs_the_fix(tmp_path, pristine_scopes):
    cfg_file = _write(tmp_path / 'voc.py', """
        _base_ = ['mmseg::_base_/datasets/pascal_voc12.py']
        """)
    with pytest.raises(Exception, match='mmsegmentation'):
        Config.fromfile(cfg_file)
    updates = register_config_scopes()
    assert updates['mmseg'] == 'onedl-mmsegmentation'
    cfg = Config.fromfile(cfg_file)
    assert cfg.dataset_type == 'PascalVOCDataset'
    assert cfg.train_dataloader.dataset.type == 'PascalVOCDataset'


def test_mmpretrain_and_mmcpal_scopes(tmp_path, pristine_scopes):
    cfg_file = _write(tmp_path / 'c.py', """
        _base_ = ['mmpretrain::_base_/models/resnet50.py',
                  'mmcpal::_base_/datasets/demo_cls.py']
        """)
    with pytest.raises(Exception):
        Config.fromfile(cfg_file)
    register_config_scopes()
    cfg = Config.fromfile(cfg_file)
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.backbone.depth == 50
    assert cfg.train_dataloader.dataset.type == 'SyntheticWSSSDataset'



def test_upstream_mapping_is_left_alone(pristine_scopes, monkeypatch):
    """With upstream mmsegmentation / mmpretrain (no onedl-* distribution),
    only ``mmcpal`` is registered; MMEngine's entries stay as shipped."""
    upstream = {'mmengine': '0.10.7', 'mmcv': '2.1.0',
                'mmsegmentation': '1.2.2', 'mmpretrain': '1.2.0',
                'mmcpal': '0.1.0'}
    monkeypatch.setattr(stack, 'installed_version', upstream.get)
    assert register_config_scopes() == {'mmcpal': 'mmcpal'}
    assert config_utils.MODULE2PACKAGE['mmseg'] == 'mmsegmentation'
    assert config_utils.MODULE2PACKAGE['mmpretrain'] == 'mmpretrain'
    assert config_utils.MODULE2PACKAGE['mmcpal'] == 'mmcpal'


def test_mapping_per_fork(pristine_scopes, monkeypatch):
    """Each scope follows its own distribution (fork mmseg, upstream
    mmpretrain)."""
    dists = {'onedl-mmsegmentation': '1.4.2', 'mmpretrain': '1.2.0'}
    monkeypatch.setattr(stack, 'installed_version', dists.get)
    assert register_config_scopes() == {
        'mmcpal': 'mmcpal', 'mmseg': 'onedl-mmsegmentation'}
    assert config_utils.MODULE2PACKAGE['mmpretrain'] == 'mmpretrain'


def test_cpu_ddp_fix_only_where_needed(monkeypatch):
    cfg = Config(dict(model_wrapper_cfg=None))
    assert setup_cpu_distributed(cfg, 'none') is False
    assert cfg.model_wrapper_cfg is None
    monkeypatch.setattr('torch.cuda.is_available', lambda: True)
    assert setup_cpu_distributed(cfg, 'pytorch') is False
    assert cfg.model_wrapper_cfg is None

DDP_SCRIPT = """
import sys
import torch
from torch import nn
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmcpal.utils.compat import setup_cpu_distributed


class Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.lin(inputs)
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return out


class ToyData(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.full((2, ), float(i)))


cfg = Config(dict(
    model=dict(type=Toy),
    work_dir=sys.argv[1],
    train_dataloader=dict(
        dataset=dict(type=ToyData), batch_size=2,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate')),
    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
    train_cfg=dict(by_epoch=True, max_epochs=1),
    launcher='pytorch',
    default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
))
if sys.argv[2] == 'fix':
    assert setup_cpu_distributed(cfg, 'pytorch')
runner = Runner.from_cfg(cfg)
runner.train()
print('DDP-OK', type(runner.model).__name__)
"""


@pytest.mark.skipif(
    __import__('torch').cuda.is_available(),
    reason='the CPU DDP fix only matters without CUDA')
@pytest.mark.parametrize('mode', ['nofix', 'fix'])
def test_cpu_ddp_needs_the_fix(tmp_path, mode):
    script = tmp_path / 'ddp.py'
    script.write_text(DDP_SCRIPT)
    env = dict(
        os.environ,
        RANK='0',
        LOCAL_RANK='0',
        WORLD_SIZE='1',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(29600 + (os.getpid() % 300)),
        OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, str(script),
         str(tmp_path / 'work'), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    if mode == 'fix':
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert 'DDP-OK MMDistributedDataParallel' in proc.stdout
    else:
        assert proc.returncode != 0
        assert 'DDP-OK' not in proc.stdout
        # It fails where the fix acts: NCCL / CUDA set-up on a CPU machine.
        assert any(word in proc.stderr.lower()
                   for word in ('nccl', 'cuda', 'device')), proc.stderr[-2000:]


def test_teardown_distributed_destroys_the_group(tmp_path):
    """Without a group it does nothing; with one (1-process gloo) it
    destroys it, so a later init in the same process works again."""
    import torch.distributed as dist

    from mmcpal.utils.compat import teardown_distributed
    assert not dist.is_initialized()
    assert teardown_distributed() is False
    store = f'file://{tmp_path / "store"}'
    dist.init_process_group('gloo', init_method=store, rank=0, world_size=1)
    assert dist.is_initialized()
    assert teardown_distributed() is True
    assert not dist.is_initialized()
    dist.init_process_group('gloo', init_method=f'{store}2', rank=0,
                            world_size=1)
    assert teardown_distributed() is True


def test_exit_after_distributed(tmp_path):
    """No group: it returns. With a group: flushed output, the group
    destroyed, the process ends with the given code (os._exit)."""
    import subprocess
    import sys

    from mmcpal.utils import exit_after_distributed
    assert exit_after_distributed() is None  # no group: just returns
    script = tmp_path / 'exit.py'
    store = f'file://{tmp_path / "store"}'
    script.write_text(
        'import logging, sys\n'
        'import torch.distributed as dist\n'
        'from mmcpal.utils import exit_after_distributed\n'
        f"dist.init_process_group('gloo', init_method={store!r}, rank=0, "
        'world_size=1)\n'
        "logging.basicConfig(filename=sys.argv[1], level=logging.INFO)\n"
        "logging.info('logged before exit')\n"
        "print('printed before exit', end='')\n"
        'exit_after_distributed(3)\n'
        "print('never printed')\n")
    log = tmp_path / 'log.txt'
    proc = subprocess.run([sys.executable, str(script), str(log)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert proc.stdout == 'printed before exit'
    assert 'logged before exit' in log.read_text()
