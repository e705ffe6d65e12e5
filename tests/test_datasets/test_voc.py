"""Tests of VOCImageLevelDataset on a tiny VOC folder and on voc12-mini."""
import csv
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from mmcpal.datasets import voc as voc_module
from mmcpal.datasets.voc import VOCImageLevelDataset, voc_palette
from mmcpal.registry import DATASETS


def _build(tiny_voc, **kwargs):
    return VOCImageLevelDataset(
        ann_file=tiny_voc.ann_file, data_root=tiny_voc.root, **kwargs)


def _labels_by_id(ds):
    return {
        ds.get_data_info(i)['img_id']: ds.get_data_info(i)['gt_label']
        for i in range(len(ds))
    }


def _assert_labels(ds, expected, ids):
    got = _labels_by_id(ds)
    assert list(got) == list(ids)
    for img_id in ids:
        np.testing.assert_array_equal(got[img_id], expected[img_id],
                                      err_msg=img_id)
        assert got[img_id].dtype == np.float32


@pytest.mark.parametrize('source', ['file', 'mask', 'xml'])
def test_each_label_source_gives_constructed_labels(tiny_voc, source):
    ds = _build(tiny_voc, label_source=source)
    assert ds.used_label_source == source
    # img_c has no foreground in every source and is skipped.
    _assert_labels(ds, tiny_voc.expected[source], tiny_voc.labelled_ids)
    assert ds.skipped_ids == ['img_c']
    assert ds.num_classes == 20
    expected = np.stack(
        [tiny_voc.expected[source][i] for i in tiny_voc.labelled_ids])
    np.testing.assert_array_equal(ds.get_label_matrix(), expected)


def test_auto_preference_order(tiny_voc):
    ds = _build(tiny_voc)
    assert ds.used_label_source == 'file'
    _assert_labels(ds, tiny_voc.expected['file'], tiny_voc.labelled_ids)
    os.remove(tiny_voc.label_file)
    ds = _build(tiny_voc)
    assert ds.used_label_source == 'mask'
    _assert_labels(ds, tiny_voc.expected['mask'], tiny_voc.labelled_ids)
    # One mask missing: masks no longer cover every id -> XML.
    os.remove(osp.join(tiny_voc.dirs['SegmentationClass'], 'img_b.png'))
    ds = _build(tiny_voc)
    assert ds.used_label_source == 'xml'
    _assert_labels(ds, tiny_voc.expected['xml'], tiny_voc.labelled_ids)
    assert ds.get_data_info(1)['seg_map_path'] is None
    shutil.rmtree(tiny_voc.dirs['Annotations'])
    with pytest.raises(FileNotFoundError,
                       match=r"no image-level label source found.*'img_b'"):
        _build(tiny_voc)


def test_explicit_label_file_and_data_info(tiny_voc, voc_helpers):
    other = osp.join(tiny_voc.root, 'other.tsv')
    voc_helpers.write_label_file(
        other, [('img_a', ('cat', ), None), ('img_b', ('bus', 'car'), None),
                ('img_c', ('cow', ), None), ('img_d', ('train', ), None),
                ('unused', ('boat', ), None)])
    ds = _build(tiny_voc, label_file='other.tsv')
    info = ds.get_data_info(2)
    assert info['img_id'] == 'img_c'
    assert info['label_names'] == ['cow']
    np.testing.assert_array_equal(info['gt_label'],
                                  voc_helpers.multi_hot(['cow']))
    assert info['img_path'] == osp.join(tiny_voc.dirs['JPEGImages'],
                                        'img_c.jpg')
    assert info['seg_map_path'] == osp.join(
        tiny_voc.dirs['SegmentationClass'], 'img_c.png')
    assert info['reduce_zero_label'] is False and info['seg_fields'] == []
    assert ds.get_data_info(1)['label_names'] == ['bus', 'car']
    assert len(ds) == 4 and ds.skipped_ids == []


def test_mask_dir_auto_detection_prefers_aug(tiny_voc, voc_helpers):
    aug = osp.join(tiny_voc.root, 'SegmentationClassAug')
    os.makedirs(aug)
    for img_id in ('img_a', 'img_b', 'img_c', 'img_d'):
        voc_helpers.write_mask(
            osp.join(aug, img_id + '.png'), np.full((3, 3), 5, np.uint8))
    ds = _build(tiny_voc, label_source='mask')
    assert ds.get_data_info(0)['seg_map_path'] == osp.join(aug, 'img_a.png')
    np.testing.assert_array_equal(ds.get_data_info(0)['gt_label'],
                                  voc_helpers.multi_hot(['bottle']))
    ds = _build(
        tiny_voc,
        label_source='mask',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'))
    _assert_labels(ds, tiny_voc.expected['mask'], tiny_voc.labelled_ids)


def test_unlabeled_skip_is_logged_or_raises(tiny_voc, monkeypatch):
    logged = []
    monkeypatch.setattr(voc_module, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw)))
    ds = _build(tiny_voc)
    assert len(ds) == 3
    assert len(logged) == 1
    msg, kw = logged[0]
    assert 'skipped 1 image(s)' in msg and "'img_c'" in msg
    assert kw == dict(logger='current')
    with pytest.raises(ValueError,
                       match=r"without any foreground label .*'img_c'"):
        _build(tiny_voc, skip_unlabeled=False)


def test_missing_image_error(tiny_voc):
    os.remove(osp.join(tiny_voc.dirs['JPEGImages'], 'img_b.jpg'))
    with pytest.raises(FileNotFoundError,
                       match=r'train\.txt do not exist: 1: .*img_b\.jpg'):
        _build(tiny_voc)


def test_duplicate_id_error(tiny_voc):
    with open(osp.join(tiny_voc.root, tiny_voc.ann_file), 'a') as f:
        f.write('img_a\n')
    with pytest.raises(ValueError,
                       match=r"train\.txt line 7: duplicate image id 'img_a'"):
        _build(tiny_voc)


def test_label_file_unknown_class_error(tiny_voc, voc_helpers):
    voc_helpers.write_label_file(tiny_voc.label_file,
                                 [('img_a', ('cat', ), None),
                                  ('img_b', ('kitten', ), [1]),
                                  ('img_c', (), None), ('img_d', (), None)])
    with pytest.raises(
            ValueError,
            match=r"image_labels\.tsv line 3: unknown class name 'kitten' "
            r"for image 'img_b'; valid names are \['aeroplane', 'bicycle'"):
        _build(tiny_voc)


def test_label_file_missing_id_error(tiny_voc, voc_helpers):
    voc_helpers.write_label_file(tiny_voc.label_file,
                                 [('img_a', ('cat', ), None),
                                  ('img_d', ('dog', ), None)])
    with pytest.raises(
            ValueError,
            match=r"image_labels\.tsv has no line for image ids listed in "
            r".*train\.txt, 2: 'img_b', 'img_c'"):
        _build(tiny_voc)


def test_explicit_label_file_must_exist(tiny_voc):
    with pytest.raises(FileNotFoundError, match=r'label file not found.*x\.t'):
        _build(tiny_voc, label_file='x.tsv')


def test_corrupt_mask_error(tiny_voc):
    bad = osp.join(tiny_voc.dirs['SegmentationClass'], 'img_d.png')
    with open(bad, 'wb') as f:
        f.write(b'\x89PNG broken')
    with pytest.raises(ValueError,
                       match=r'cannot read mask .*img_d\.png: corrupt'):
        _build(tiny_voc, label_source='mask')


def test_argument_errors(tiny_voc):
    with pytest.raises(ValueError, match=r"label_source must be one of .*"
                       r"got 'masks'"):
        _build(tiny_voc, label_source='masks')
    with pytest.raises(ValueError, match=r"label_file='a\.tsv' is given but "
                       r"label_source='xml'"):
        _build(tiny_voc, label_file='a.tsv', label_source='xml')
    with pytest.raises(ValueError, match='ann_file'):
        VOCImageLevelDataset(ann_file='', data_root=tiny_voc.root)


def test_metainfo_override_and_palette(tiny_voc, voc_helpers):
    from mmseg.datasets import PascalVOCDataset
    assert voc_palette(21) == [
        list(c) for c in PascalVOCDataset.METAINFO['palette']
    ]
    ds = _build(tiny_voc)
    assert ds.metainfo['classes'][0] == 'background'
    assert len(ds.metainfo['palette']) == 21
    voc_helpers.write_label_file(tiny_voc.label_file,
                                 [('img_a', ('dog', ), [2]),
                                  ('img_b', ('cat', 'dog'), [1, 2]),
                                  ('img_c', (), []),
                                  ('img_d', ('cat', ), [1])])
    ds = _build(tiny_voc, metainfo=dict(classes=('background', 'cat', 'dog')))
    assert ds.num_classes == 2 and ds.class_names == ['cat', 'dog']
    assert ds.metainfo['palette'] == voc_palette(3)
    np.testing.assert_array_equal(ds.get_label_matrix(),
                                  [[0, 1], [1, 1], [1, 0]])
    with pytest.raises(ValueError, match=r'has 2 colours for 3 classes'):
        _build(
            tiny_voc,
            metainfo=dict(
                classes=('background', 'cat', 'dog'),
                palette=[[0, 0, 0], [1, 1, 1]]))
    with pytest.raises(ValueError, match='at least one foreground'):
        _build(tiny_voc, metainfo=dict(classes=('background', )))


def test_build_from_registry_and_lazy_init(tiny_voc):
    init_default_scope('mmcpal')
    ds = DATASETS.build(
        dict(
            type='VOCImageLevelDataset',
            ann_file=tiny_voc.ann_file,
            data_root=tiny_voc.root,
            lazy_init=True))
    assert isinstance(ds, VOCImageLevelDataset)
    assert not ds._fully_initialized
    assert len(ds) == 3


def _read_tsv(path):
    with open(path, newline='') as f:
        return {row['id']: row for row in csv.DictReader(f, delimiter='\t')}


def test_voc12_mini(voc12_mini_root, voc_helpers):
    ds = VOCImageLevelDataset(
        ann_file='ImageSets/Segmentation/train.txt', data_root=voc12_mini_root)
    assert len(ds) == 330 and ds.used_label_source == 'file'
    rows = _read_tsv(
        osp.join(voc12_mini_root, 'ImageSets/Segmentation/image_labels.tsv'))
    labels = ds.get_label_matrix()
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        expected = np.zeros(20, np.float32)
        expected[[int(c) - 1 for c in rows[info['img_id']]['class_ids'].split()
                  ]] = 1
        np.testing.assert_array_equal(labels[i], expected)
        assert info['seg_map_path'] is not None
    # Independently read a few masks: unique values 1..20 == the labels.
    for i in range(0, 330, 33):
        info = ds.get_data_info(i)
        mask = np.asarray(Image.open(info['seg_map_path']))
        values = sorted(set(np.unique(mask).tolist()) - {0, 255})
        assert (np.flatnonzero(labels[i]) + 1).tolist() == values
    # All 20 classes appear (README of voc12-mini).
    assert labels.sum(0).min() >= 1
