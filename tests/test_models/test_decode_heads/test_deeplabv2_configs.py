"""configs/deeplabv2: load under the 'mmseg' scope, build, pin the recipe."""
import copy
import glob
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DATASETS, METRICS, MODELS, TRANSFORMS
from mmengine.registry import init_default_scope
from mmseg.utils import register_all_modules

import mmcpal.models.decode_heads  # noqa: F401 (registers the head)
from mmcpal.apis import load_config
from mmcpal.datasets.coco import COCO14_CLASSES
from mmcpal.datasets.synthetic import DEMO_METAINFO

register_all_modules(init_default_scope=False)

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CONFIG_DIR = osp.join(REPO, 'configs', 'deeplabv2')
CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))
VOC = osp.join(CONFIG_DIR,
               'deeplabv2_r101-d8_1xb10-20k_voc12aug-pseudo-321x321.py')
DEMO = osp.join(CONFIG_DIR,
                'deeplabv2_squeezenet_1xb8-1k_demo-pseudo-160x160.py')
HAS_CRF = importlib.util.find_spec('mmcpal.pseudo.crf') is not None
MASK_OPTION = 'train_dataloader.dataset.data_prefix.seg_map_path'


_LOADED = {}


def _load(path, cfg_options=None):
    """load_config, parsed once per file (configs are deep-copied)."""
    if path not in _LOADED:
        _LOADED[path] = load_config(path)
    cfg = copy.deepcopy(_LOADED[path])
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _types(node):
    """Every 'type' string of a config subtree."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield node['type']
        for value in node.values():
            yield from _types(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _types(value)


def _resolve(registry, name):
    with registry.switch_scope_and_registry('mmseg') as reg:
        return reg.get(name)


def _uses_crf(cfg) -> bool:
    """The model (a CRF segmentor or CRF TTA model) runs a dense CRF."""
    return cfg.model.get('crf') is not None


def test_expected_configs_exist():
    names = {osp.basename(p) for p in CONFIGS}
    assert osp.basename(VOC) in names and osp.basename(DEMO) in names
    assert any('coco14' in n for n in names)
    assert any('ms-flip' in n for n in names)
    assert any('crf' in n for n in names)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_config_builds_in_mmseg_scope(path):
    cfg = _load(path)
    assert cfg.default_scope == 'mmseg'
    init_default_scope('mmseg')
    for section in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[section]['dataset']
        assert _resolve(DATASETS, dataset['type']) is not None
        for name in _types(dataset.get('pipeline', [])):
            assert _resolve(TRANSFORMS, name) is not None, name
    for name in _types(cfg.get('tta_pipeline', [])):
        assert _resolve(TRANSFORMS, name) is not None, name
    assert _resolve(METRICS, cfg.val_evaluator['type']) is not None
    assert cfg.val_evaluator['iou_metrics'] == ['mIoU']
    if _uses_crf(cfg) and not HAS_CRF:
        pytest.skip('mmcpal.pseudo.crf (dense_crf) not available')
    with MODELS.switch_scope_and_registry('mmseg') as registry:
        model = registry.build(cfg.model)
    names = [n for n, _ in model.named_parameters()]
    assert not any('conv_seg' in n for n in names)
    assert sum('decode_head.aspp.' in n for n in names) == 8


def test_voc_recipe():
    cfg = _load(VOC)
    assert cfg.train_dataloader.batch_size == 10
    assert cfg.train_dataloader.dataset.ann_file.endswith('trainaug.txt')
    crop = [t for t in cfg.train_pipeline if t['type'] == 'RandomCrop'][0]
    assert tuple(crop['crop_size']) == (321, 321)
    assert tuple(cfg.model.data_preprocessor['size']) == (321, 321)
    resize = [t for t in cfg.train_pipeline if t['type'] == 'RandomResize']
    assert tuple(resize[0]['ratio_range']) == (0.5, 1.5)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD',
                                                                  2.5e-4, 0.9,
                                                                  5e-4)
    (sched, ) = cfg.param_scheduler
    assert (sched.type, sched.power, sched.eta_min, sched.end) == ('PolyLR',
                                                                   0.9, 0.,
                                                                   20000)
    assert cfg.train_cfg.max_iters == 20000
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.depth, backbone.style) == ('ResNet', 101,
                                                               'caffe')
    assert tuple(backbone.dilations) == (1, 1, 2, 4)
    assert tuple(backbone.strides) == (1, 2, 1, 1)
    assert backbone.norm_cfg.requires_grad is False and backbone.norm_eval
    assert backbone.init_cfg.checkpoint.startswith('open-mmlab://')
    head = cfg.model.decode_head
    assert head.type == 'mmcpal.DeepLabV2Head'
    assert tuple(head.dilations) == (6, 12, 18, 24)
    assert head.num_classes == 21
    # validation on the ground truth of VOC val, whole image, no resize
    val = cfg.val_dataloader.dataset
    assert val.data_prefix.seg_map_path == 'SegmentationClass'
    assert val.ann_file.endswith('val.txt')
    assert [t['type'] for t in val.pipeline] == [
        'LoadImageFromFile', 'LoadAnnotations', 'PackSegInputs'
    ]


def test_mask_folder_is_one_option():
    cfg = _load(VOC, {MASK_OPTION: '/data/pseudo/masks_crf'})
    assert (cfg.train_dataloader.dataset.data_prefix.seg_map_path ==
            '/data/pseudo/masks_crf')
    assert cfg.val_dataloader.dataset.data_prefix.seg_map_path == \
        'SegmentationClass'
    # the derived test configs inherit the option path unchanged
    for path in CONFIGS:
        if 'voc12aug' in path:
            derived = _load(path, {MASK_OPTION: '/m'})
            assert derived.train_dataloader.dataset.data_prefix[
                'seg_map_path'] == '/m'


def test_demo_metainfo_matches_the_generator():
    cfg = _load(DEMO)
    for section in ('train_dataloader', 'val_dataloader'):
        meta = cfg[section].dataset.metainfo
        assert tuple(meta['classes']) == tuple(DEMO_METAINFO['classes'])
        assert [list(c) for c in meta['palette']] == DEMO_METAINFO['palette']
    assert cfg.model.decode_head.num_classes == len(DEMO_METAINFO['classes'])


def test_coco_has_81_classes_in_the_package_order():
    (path, ) = [p for p in CONFIGS if 'coco14' in p]
    cfg = _load(path)
    for section in ('train_dataloader', 'val_dataloader'):
        classes = tuple(cfg[section].dataset.metainfo['classes'])
        assert classes == ('background', ) + COCO14_CLASSES
    assert cfg.model.decode_head.num_classes == 81
    assert cfg.val_dataloader.dataset.data_prefix.seg_map_path == \
        'SegmentationClass/val2014'


def _demo_model(cfg):
    cfg.model.backbone.init_cfg = None  # no weights needed here
    init_default_scope('mmseg')
    with MODELS.switch_scope_and_registry('mmseg') as registry:
        return registry.build(cfg.model)


def test_head_lr_multipliers():
    cfg = _load(DEMO)
    model = _demo_model(cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    base_lr = cfg.optim_wrapper.optimizer.lr
    wd = cfg.optim_wrapper.optimizer.weight_decay
    groups = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            groups[names[id(p)]] = (group['lr'], group['weight_decay'])
    for name, (lr, decay) in groups.items():
        if name.startswith('decode_head.') and name.endswith('weight'):
            assert (lr, decay) == pytest.approx((10 * base_lr, wd)), name
        elif name.startswith('decode_head.'):
            assert (lr, decay) == pytest.approx((20 * base_lr, 0.)), name
        else:
            assert (lr, decay) == pytest.approx((base_lr, wd)), name


def test_class_weight_option(tmp_path):
    weights = np.linspace(0.5, 2.0, 7).astype(np.float32)
    np.save(tmp_path / 'w.npy', weights)
    cfg = _load(
        DEMO, {
            'model.decode_head.loss_decode.class_weight':
            str(tmp_path / 'w.npy'),
            'model.decode_head.loss_decode.avg_non_ignore': False,
        })
    model = _demo_model(cfg)
    loss = model.decode_head.loss_decode
    np.testing.assert_allclose(loss.class_weight, weights)
    logits = torch.randn(2, 7, 6, 8, requires_grad=True)
    labels = torch.randint(0, 7, (2, 6, 8))
    # weighted mean over labelled pixels (PyTorch's weighted 'mean')
    expected = torch.nn.functional.cross_entropy(
        logits, labels, weight=torch.from_numpy(weights))
    torch.testing.assert_close(
        loss(logits, labels, ignore_index=255), expected)
    # an all-ignore batch gives 0, not NaN
    all_ignore = torch.full((2, 6, 8), 255)
    value = loss(logits, all_ignore, ignore_index=255)
    assert torch.isfinite(value) and value.item() == 0.


def test_default_loss_averages_over_labelled_pixels():
    """avg_non_ignore=True: PyTorch's (and deeplab-pytorch's) mean."""
    for path in (VOC, DEMO):
        cfg = _load(path)
        assert cfg.model.decode_head.loss_decode.avg_non_ignore is True


def test_voc_random_scale_is_a_factor_of_half_to_one_and_a_half():
    """RandomResize(scale=(500, 500), keep_ratio) on a 500 px VOC image
    rescales by the drawn ratio, DeepLab-v2's random scale 0.5-1.5."""
    cfg = _load(VOC)
    step = [t for t in cfg.train_pipeline if t['type'] == 'RandomResize'][0]
    init_default_scope('mmseg')
    with TRANSFORMS.switch_scope_and_registry('mmseg') as registry:
        resize = registry.build(step)
    np.random.seed(0)
    factors = []
    for _ in range(200):
        out = resize(
            dict(
                img=np.zeros((375, 500, 3), np.uint8),
                gt_seg_map=np.zeros((375, 500), np.uint8),
                seg_fields=['gt_seg_map']))
        h, w = out['img'].shape[:2]
        assert out['gt_seg_map'].shape == (h, w)
        factors.append(w / 500)
        assert abs(h / 375 - w / 500) < 0.01  # aspect ratio kept
    assert 0.5 - 0.01 <= min(factors) < 0.6
    assert 1.4 < max(factors) <= 1.5 + 0.01
