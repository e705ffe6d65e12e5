"""Every config in configs/ loads and every type in it resolves."""
import glob
import os.path as osp

import pytest
from mmengine.registry import init_default_scope

from mmcpal.apis import load_config
from mmcpal.registry import (DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p)


def _types(node, key_path=()):
    """Yield (path, type) of every dict with a 'type' key in a config."""
    if isinstance(node, dict):
        if 'type' in node and isinstance(node['type'], str):
            yield key_path, node['type']
        for key, value in node.items():
            yield from _types(value, key_path + (key, ))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _types(value, key_path + (i, ))


def test_there_are_configs():
    assert len(CONFIGS) >= 42


EFFNET_CONFIGS = [p for p in CONFIGS if '_effnetlite0_' in osp.basename(p)
                  and 'reading1' not in p]


def test_effnetlite0_family():
    """One base file + one leaf per stage and data set (issue 18)."""
    assert len(EFFNET_CONFIGS) == 12, EFFNET_CONFIGS
    for path in EFFNET_CONFIGS:
        model = load_config(path).model
        model = model.get('module', model)  # the CRF TTA wrapper
        assert model.backbone.type == 'mmcpal.EfficientNetLite', path
        assert model.backbone.init_cfg.checkpoint == 'effnet://lite0', path
        assert model.data_preprocessor.mean == [127.0] * 3, path
        assert model.data_preprocessor.bgr_to_rgb, path


def _get(registry, scope, name):
    """Resolve ``name`` as a config with ``default_scope=scope`` would."""
    with registry.switch_scope_and_registry(scope) as reg:
        return reg.get(name)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_builds(path):
    cfg = load_config(path)
    # Our stages use the mmcpal scope; DeepLab-v2 configs inherit stock
    # MMSeg configs and keep their scope, naming our parts 'mmcpal.X'.
    scope = cfg.default_scope
    assert scope in ('mmcpal', 'mmseg'), scope
    init_default_scope(scope)
    for section in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(section)
        if not loader:
            continue
        dataset = loader['dataset']
        assert _get(DATASETS, scope, dataset['type']) is not None, \
            dataset['type']
        for step in dataset.get('pipeline', []):
            assert _get(TRANSFORMS, scope, step['type']) is not None, \
                step['type']
    for hook in cfg.get('custom_hooks', []) or []:
        assert _get(HOOKS, scope, hook['type']) is not None, hook['type']
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(key)
        if evaluator:
            metrics = evaluator if isinstance(evaluator, list) else [evaluator]
            for metric in metrics:
                assert _get(METRICS, scope, metric['type']) is not None
    # The model builds (pretrained weights are only loaded by init_weights).
    with MODELS.switch_scope_and_registry(scope) as models:
        model = models.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    if cfg.model.get('cpal') is not None:
        assert model.with_cpal
