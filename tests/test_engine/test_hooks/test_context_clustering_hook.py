"""Tests of ContextClusteringHook on real CPU runners (and 2-rank gloo DDP).

A toy CAM network (two conv "stages" + 1x1 classifier + CPALBranch) trains on
random 12x12 images with multi-hot labels, batches of 4, 2-3 epochs.
"""
import copy
import os
import socket
import tempfile
import time

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.registry import DATASETS, HOOKS, MODELS
from mmengine.testing import RunnerTestCase
from torch.utils.data import Dataset

from mmcpal.engine.hooks import ContextClusteringHook
from mmcpal.models.cpal import functional as fn
from mmcpal.models.cpal import parts_from_flat
from mmcpal.models.cpal.cpal_branch import CPALBranch
from mmcpal.models.cpal.support_bank import SupportBank

C, E = 3, 8
BUFFERS = ('bank.bank', 'bank.bank_ptr', 'bank.bank_count', 'context',
           'context_count', 'num_steps', 'num_updates')


def _without_type(cfg: dict) -> dict:
    cfg = dict(cfg)
    cfg.pop('type')
    return cfg


class ToyCAMNet(BaseModel):
    """conv (stride 2) -> conv -> 1x1 classifier; CPAL on both stages."""

    def __init__(self, cpal: dict, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.stage1 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.stage2 = nn.Conv2d(4, 6, 3, padding=1)
        self.classifier = nn.Conv2d(6, C, 1, bias=False)
        self.cpal = CPALBranch(**_without_type(parts_from_flat(**cpal)))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        f1 = F.relu(self.stage1(x))
        f2 = F.relu(self.stage2(f1))
        cams = self.classifier(f2)
        if mode != 'loss':
            return cams
        labels = torch.stack(data_samples)
        losses = dict(
            loss_cls=F.multilabel_soft_margin_loss(cams.mean((2, 3)), labels))
        losses.update(self.cpal.loss((f1, f2), cams, labels, None))
        return losses


class ToyMultiLabelDataset(Dataset):
    """Random images; every image has 1-2 of the 3 classes."""
    METAINFO = dict()
    num = 8

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.images = torch.randn(self.num, 3, 12, 12, generator=g)
        self.labels = torch.zeros(self.num, C)
        for i in range(self.num):
            self.labels[i, i % C] = 1
            self.labels[i, (i * 2 + 1) % C] = 1

    @property
    def metainfo(self):
        return self.METAINFO

    def __len__(self):
        return self.num

    def __getitem__(self, index):
        return dict(inputs=self.images[index], data_samples=self.labels[index])


class RecorderHook(Hook):
    """Snapshots the branch buffers after the clustering hook has run."""
    priority = 'LOWEST'

    def __init__(self):
        self.epoch_starts = []
        self.iters = []
        self.at_start = None

    @staticmethod
    def _state(runner):
        branch = ContextClusteringHook.find_branches(runner.model)[0]
        return {k: v.clone() for k, v in branch.state_dict().items()}

    def before_train(self, runner):
        self.at_start = self._state(runner)

    def before_train_epoch(self, runner):
        self.epoch_starts.append(self._state(runner))

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.iters.append(self._state(runner))


def _cpal_cfg(**kwargs):
    cfg = dict(num_classes=C,
               in_channels=4 + 6,
               embed_dims=E,
               bank_size=64,
               num_clusters=4,
               num_neighbours=2,
               kmeans_iters=20)
    cfg.update(kwargs)
    return cfg


def _base_cfg(work_dir, by_epoch=True):
    """Epoch-based: 3 epochs of 2 iterations; iteration-based: 7
    iterations, clustering every 3."""
    return dict(
        work_dir=work_dir,
        model=dict(type='ToyCAMNet', cpal=_cpal_cfg()),
        train_dataloader=dict(
            dataset=dict(type='ToyMultiLabelDataset'),
            sampler=dict(type='DefaultSampler', shuffle=True, seed=0) if
            by_epoch else dict(type='InfiniteSampler', shuffle=True, seed=0),
            batch_size=4,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=3)
        if by_epoch else dict(by_epoch=False, max_iters=7),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook',
                                           interval=1 if by_epoch else 3,
                                           by_epoch=by_epoch)),
        custom_hooks=[
            dict(type='mmcpal.ContextClusteringHook',
                 by_epoch=by_epoch,
                 interval=0 if by_epoch else 3)
        ],
        log_processor=dict(by_epoch=by_epoch),
        randomness=dict(seed=0),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        experiment_name='cpal_hook')


def _kmeans_of(state, cfg):
    """Reference context prototypes from a bank snapshot."""
    counts = state['bank.bank_count']
    classes = (counts > 0).nonzero()[:, 0]
    centres, n = fn.batched_spherical_kmeans(state['bank.bank'][classes],
                                             counts[classes],
                                             cfg['num_clusters'],
                                             cfg['kmeans_iters'], 0)
    return classes, centres, n


class TestContextClusteringHook(RunnerTestCase):

    def setUp(self):
        super().setUp()
        MODELS.register_module(module=ToyCAMNet, force=True)
        DATASETS.register_module(module=ToyMultiLabelDataset, force=True)

    def tearDown(self):
        MODELS.module_dict.pop('ToyCAMNet', None)
        DATASETS.module_dict.pop('ToyMultiLabelDataset', None)
        super().tearDown()

    def _runner(self, cfg_dict, recorder=None):
        cfg = copy.deepcopy(self.epoch_based_cfg)
        for key in ('val_dataloader', 'val_evaluator', 'val_cfg',
                    'test_dataloader', 'test_evaluator', 'test_cfg'):
            cfg.pop(key, None)
        cfg.merge_from_dict(cfg_dict)
        cfg.train_cfg = cfg_dict['train_cfg']
        cfg.default_hooks = cfg_dict['default_hooks']
        runner = self.build_runner(cfg)
        if recorder is not None:
            runner.register_hook(recorder)
        return runner

    def test_init_checks(self):
        with self.assertRaisesRegex(AssertionError, 'non-negative int'):
            ContextClusteringHook(interval=-1)
        with self.assertRaisesRegex(AssertionError, 'never clusters'):
            ContextClusteringHook(by_epoch=False, interval=0)
        self.assertIs(HOOKS.get('mmcpal.ContextClusteringHook'),
                      ContextClusteringHook)

    def test_clusters_at_epoch_starts_and_resume(self):
        rec = RecorderHook()
        runner = self._runner(_base_cfg(self.temp_dir.name), rec)
        runner.train()
        starts = rec.epoch_starts
        self.assertEqual(len(starts), 3)
        # epoch 1: empty bank, nothing clustered
        self.assertEqual(int(starts[0]['num_updates']), 0)
        self.assertEqual(int(starts[0]['context_count'].sum()), 0)
        # epochs 2 and 3: clustered from the bank as it was at that moment
        cfg = _cpal_cfg()
        for e, state in enumerate(starts[1:], start=1):
            self.assertEqual(int(state['num_updates']), e)
            classes, centres, n = _kmeans_of(state, cfg)
            self.assertEqual(classes.tolist(), [0, 1, 2])
            torch.testing.assert_close(state['context'][classes], centres)
            self.assertTrue(torch.equal(state['context_count'][classes], n))
            self.assertTrue(
                torch.equal(n, state['bank.bank_count'][classes].clamp(max=4)))
        # no clustering between epoch starts (interval disabled)
        self.assertTrue(
            all(
                torch.equal(s['context'], starts[2]['context'])
                for s in rec.iters[4:]))
        log = os.path.join(runner.log_dir, f'{runner.timestamp}.log')
        with open(log) as f:
            text = f.read()
        self.assertIn('(epoch 1 start): support bank 0 is empty', text)
        self.assertRegex(
            text, r'\(epoch 2 start\): clustered 3 classes of CPAL branch 0 '
            r'in \d+\.\d\d s')
        final = RecorderHook._state(runner)
        self.assertEqual(int(final['num_steps']), 6)  # 3 epochs x 2 iters

        # resume from epoch 2: the buffers are restored exactly
        ckpt = os.path.join(self.temp_dir.name, 'epoch_2.pth')
        saved = torch.load(ckpt, map_location='cpu', weights_only=False)
        saved = saved['state_dict']
        rec2 = RecorderHook()
        cfg_dict = _base_cfg(self.temp_dir.name)
        cfg_dict.update(resume=True, load_from=ckpt)
        runner2 = self._runner(cfg_dict, rec2)
        runner2.train()
        for key in BUFFERS:
            self.assertTrue(
                torch.equal(rec2.at_start[key], saved['cpal.' + key]), key)
        self.assertEqual(int(rec2.at_start['num_updates']), 1)
        # the resumed epoch 3 repeats the uninterrupted run exactly
        for key in BUFFERS:
            torch.testing.assert_close(rec2.epoch_starts[0][key],
                                       starts[2][key])
            torch.testing.assert_close(
                RecorderHook._state(runner2)[key], final[key])

    def test_iteration_interval_and_resume(self):
        rec = RecorderHook()
        cfg_dict = _base_cfg(self.temp_dir.name, by_epoch=False)
        runner = self._runner(cfg_dict, rec)
        runner.train()
        # clustered after iterations 3 and 6 (1-based)
        self.assertEqual([int(s['num_updates']) for s in rec.iters],
                         [0, 0, 1, 1, 1, 2, 2])
        state = rec.iters[5]
        classes, centres, _ = _kmeans_of(state, _cpal_cfg())
        torch.testing.assert_close(state['context'][classes], centres)

        # resume at iteration 3: context and bank restored and not
        # re-clustered at the (iteration-based) "epoch" start
        ckpt = os.path.join(self.temp_dir.name, 'iter_3.pth')
        rec2 = RecorderHook()
        cfg_dict.update(resume=True, load_from=ckpt)
        runner2 = self._runner(cfg_dict, rec2)
        runner2.train()
        for key in BUFFERS:
            self.assertTrue(
                torch.equal(rec2.epoch_starts[0][key], rec.iters[2][key]), key)
        self.assertEqual([int(s['num_updates']) for s in rec2.iters],
                         [1, 1, 2, 2])


# --------------------------------------------------------------------------
# two-rank gloo DDP
# --------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, port: int, work_dir: str):
    os.environ.update(MASTER_ADDR='127.0.0.1',
                      MASTER_PORT=str(port),
                      RANK=str(rank),
                      LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world_size),
                      OMP_NUM_THREADS='1')
    torch.set_num_threads(1)
    import torch.distributed as dist
    from mmengine.config import Config
    from mmengine.runner import Runner
    MODELS.register_module(module=ToyCAMNet, force=True)
    DATASETS.register_module(module=ToyMultiLabelDataset, force=True)
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    cfg = _base_cfg(work_dir)
    # 'cls_only' warm-up: the first epoch trains with a zero L_self, which
    # must still reach every parameter (find_unused_parameters=False)
    cfg['model']['cpal'] = _cpal_cfg(warmup='cls_only')
    cfg.update(launcher='pytorch',
               train_cfg=dict(by_epoch=True, max_epochs=2),
               model_wrapper_cfg=dict(type='MMDistributedDataParallel',
                                      device_ids=None,
                                      broadcast_buffers=False,
                                      find_unused_parameters=False),
               experiment_name=f'cpal_ddp_{port}')
    cfg['default_hooks']['checkpoint'] = None
    runner = Runner.from_cfg(Config(cfg))
    branch = ContextClusteringHook.find_branches(runner.model)[0]
    local = []
    enqueue = branch._enqueue

    def spy(entries, classes):
        local.append((entries.clone(), classes.clone()))
        enqueue(entries, classes)

    branch._enqueue = spy
    runner.train()
    state = {k: v.clone() for k, v in branch.state_dict().items()}
    wrapped = is_model_wrapper(runner.model)
    torch.save(
        dict(state=state,
             local=local,
             wrapped=wrapped,
             world_size=dist.get_world_size()),
        os.path.join(work_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


def test_ddp_two_ranks_identical_state():
    with tempfile.TemporaryDirectory() as work_dir:
        # fork: the workers need no pickling of this (importlib-mode) module
        ctx = mp.start_processes(
            _ddp_worker,
            args=(2, _free_port(), work_dir),
            nprocs=2,
            join=False,
            start_method='fork')
        deadline = time.monotonic() + 120
        while not ctx.join(timeout=2):
            if time.monotonic() > deadline:
                for proc in ctx.processes:
                    proc.kill()
                pytest.fail('2-rank gloo DDP run did not finish in 120 s')
        res = [
            torch.load(os.path.join(work_dir, f'rank{r}.pt'),
                       weights_only=False) for r in range(2)
        ]
    assert all(r['wrapped'] and r['world_size'] == 2 for r in res)
    s0, s1 = res[0]['state'], res[1]['state']
    for key in BUFFERS:
        assert torch.equal(s0[key], s1[key]), key
    assert int(s0['num_updates']) == 1  # epoch 2 start
    assert int(s0['context_count'].sum()) > 0
    # the bank holds both ranks' prototypes, rank 0's first at every step
    ref = SupportBank(num_classes=C, capacity=64, embed_dims=E)
    steps0, steps1 = res[0]['local'], res[1]['local']
    assert len(steps0) == len(steps1) == 2  # 2 epochs x 1 iteration
    for (x0, c0), (x1, c1) in zip(steps0, steps1):
        assert len(c0) > 0 and len(c1) > 0
        ref.enqueue(torch.cat([x0, x1]), torch.cat([c0, c1]))
    assert torch.equal(ref.bank, s0['bank.bank'])
    assert torch.equal(ref.bank_count, s0['bank.bank_count'])
    total = sum(len(c) for steps in (steps0, steps1) for _, c in steps)
    assert int(s0['bank.bank_count'].sum()) == total
    # identical model parameters as well (DDP averaged the gradients)
    for key in ('head.conv1.weight', 'head.conv2.bias'):
        assert torch.equal(s0[key], s1[key])
