"""prepare_voc: SegmentationClassAug, train_aug and labels from VOC + SBD."""
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmcpal.datasets.prepare.report import PrepareError
from mmcpal.datasets.prepare.voc import (build_train_aug, prepare_voc,
                                         sbd_mask_from_mat)


def _png(path):
    with Image.open(path) as img:
        return img.mode, np.array(img), img.getpalette()


def _files(folder):
    out = {}
    for base, _, names in os.walk(folder):
        for name in names:
            with open(osp.join(base, name), 'rb') as f:
                out[osp.relpath(osp.join(base, name), folder)] = f.read()
    return out


def _ids(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def _tsv(path):
    with open(path) as f:
        lines = f.read().splitlines()
    return lines[0], {
        line.split('\t')[0]: line.split('\t')[1:]
        for line in lines[1:]
    }


def test_sbd_mat_nesting_and_reader(tmp_path, prep):
    from scipy.io import loadmat
    seg = np.arange(12, dtype=np.uint8).reshape(3, 4) % 21
    path = str(tmp_path / 'x.mat')
    prep.save_sbd_mat(path, seg)
    raw = loadmat(path)['GTcls']
    # The real SBD layout: a 1x1 struct; MMSeg's voc_aug.py indexes
    # ['GTcls'][0]['Segmentation'][0], the same element as [0, 0].
    assert raw.shape == (1, 1)
    assert set(raw.dtype.names) == {
        'Segmentation', 'Boundaries', 'CategoriesPresent'
    }
    np.testing.assert_array_equal(raw[0]['Segmentation'][0], seg)
    assert raw[0, 0]['Boundaries'].shape == (20, 1)
    np.testing.assert_array_equal(sbd_mask_from_mat(path, 'x'), seg)
    with open(path, 'rb') as f:
        np.testing.assert_array_equal(sbd_mask_from_mat(f.read(), 'x'), seg)

    inst = str(tmp_path / 'inst.mat')
    prep.save_sbd_mat(inst, seg, key='GTinst')
    with pytest.raises(ValueError, match='inst.mat: no GTcls struct'):
        sbd_mask_from_mat(inst, 'inst.mat')
    with pytest.raises(ValueError, match='bad.mat: cannot read'):
        sbd_mask_from_mat(b'not a mat file', 'bad.mat')


def test_build_train_aug_is_the_set_formula(prep):
    got = build_train_aug(['a', 'b', 'v1'], ['v1', 'v2'], ['b', 'c', 'v2'],
                          ['d', 'v1'])
    assert got == ['a', 'b', 'c', 'd']
    assert build_train_aug(prep.VOC_TRAIN, prep.VOC_VAL, prep.SBD_TRAIN,
                           prep.SBD_VAL) == prep.TRAIN_AUG


def test_prepare_from_folders_pixel_by_pixel(voc_inputs, prep):
    out = str(voc_inputs.tmp / 'out')
    report = prepare_voc(voc_inputs.voc_devkit,
                         voc_inputs.sbd,
                         out,
                         expected=prep.EXPECTED_SMALL)
    aug = osp.join(out, 'SegmentationClassAug')
    assert sorted(os.listdir(aug)) == [i + '.png' for i in prep.ALL_IDS]
    for img_id in prep.ALL_IDS:
        mode, mask, pal = _png(osp.join(aug, img_id + '.png'))
        assert mode == 'P' and pal[:768] == prep.palette()
        assert mask.shape == prep.SIZES[img_id]
        if img_id in prep.VOC_TRAIN + prep.VOC_VAL:
            # VOC wins where both exist (2007_000002 / 3 differ in SBD).
            np.testing.assert_array_equal(mask, voc_inputs.voc_masks[img_id])
            src = osp.join(voc_inputs.voc, 'SegmentationClass',
                           img_id + '.png')
            with open(src, 'rb') as a, open(osp.join(aug, img_id + '.png'),
                                            'rb') as b:
                assert a.read() == b.read()
        else:
            np.testing.assert_array_equal(mask, voc_inputs.sbd_masks[img_id])
    assert not np.array_equal(voc_inputs.voc_masks['2007_000002'],
                              voc_inputs.sbd_masks['2007_000002'])
    lists = osp.join(out, 'ImageSets/Segmentation')
    assert _ids(osp.join(lists, 'train_aug.txt')) == prep.TRAIN_AUG
    assert _ids(osp.join(lists, 'train.txt')) == prep.VOC_TRAIN
    assert _ids(osp.join(lists, 'val.txt')) == prep.VOC_VAL
    assert osp.realpath(osp.join(out, 'JPEGImages')) == osp.realpath(
        osp.join(voc_inputs.voc, 'JPEGImages'))
    header, rows = _tsv(osp.join(lists, 'image_labels.tsv'))
    assert header == 'id\tsplit\twidth\theight\tclasses\tclass_ids'
    assert sorted(rows) == sorted(prep.TRAIN_AUG + prep.VOC_VAL)
    for img_id, (split, width, height, classes, class_ids) in rows.items():
        want = sorted(prep.XML_NAMES[img_id], key=prep.VOC_NAMES.index)
        assert split == ('val' if img_id in prep.VOC_VAL else 'train_aug')
        assert (int(height), int(width)) == prep.SIZES[img_id]
        assert classes.split() == want
        assert class_ids.split() == [
            str(prep.VOC_NAMES.index(n) + 1) for n in want
        ]
    assert report.counts['voc_masks_copied'] == 4
    assert report.counts['sbd_masks_converted'] == 3
    assert report.counts['sbd_masks_replaced_by_voc'] == 2
    assert report.counts['train_aug'] == 5
    assert 'PASCAL VOC 2012 + SBD' in report.format()


def test_dataset_reads_the_output(voc_inputs, prep):
    from mmcpal.datasets.voc import VOCImageLevelDataset
    out = str(voc_inputs.tmp / 'out')
    prepare_voc(voc_inputs.voc,
                voc_inputs.sbd,
                out,
                expected=prep.EXPECTED_SMALL)
    ds = VOCImageLevelDataset(ann_file='ImageSets/Segmentation/train_aug.txt',
                              data_root=out)
    assert ds.used_label_source == 'file'
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == \
        prep.TRAIN_AUG
    info = ds.get_data_info(prep.TRAIN_AUG.index('2008_000010'))
    assert info['label_names'] == ['cat', 'dog']  # XML, not the mask
    assert info['seg_map_path'].endswith(
        'SegmentationClassAug/2008_000010.png')


def test_archives_give_the_same_outputs(voc_inputs, prep):
    folder_out = str(voc_inputs.tmp / 'from_folders')
    prepare_voc(voc_inputs.voc,
                voc_inputs.sbd,
                folder_out,
                expected=prep.EXPECTED_SMALL)
    tar_out = str(voc_inputs.tmp / 'from_tars')
    report = prepare_voc(voc_inputs.voc_tar(),
                         voc_inputs.sbd_tgz(),
                         tar_out,
                         expected=prep.EXPECTED_SMALL)
    assert _files(osp.join(tar_out, 'SegmentationClassAug')) == _files(
        osp.join(folder_out, 'SegmentationClassAug'))
    ours = _files(osp.join(tar_out, 'ImageSets/Segmentation'))
    assert ours.pop('trainval.txt')  # VOC's own, extracted
    assert ours == _files(osp.join(folder_out, 'ImageSets/Segmentation'))
    assert report.counts['voc_files_extracted'] == len(_files(voc_inputs.voc))
    assert _files(osp.join(tar_out, 'JPEGImages')) == _files(
        osp.join(voc_inputs.voc, 'JPEGImages'))
    # A rerun extracts nothing and converts nothing.
    again = prepare_voc(voc_inputs.voc_tar(),
                        voc_inputs.sbd_tgz(),
                        tar_out,
                        expected=prep.EXPECTED_SMALL)
    assert again.counts['voc_files_extracted'] == 0
    assert again.counts['sbd_masks_kept'] == 3
    assert 'sbd_masks_converted' not in again.counts


def test_in_place_and_idempotent(voc_inputs, prep):
    first = prepare_voc(voc_inputs.voc,
                        voc_inputs.sbd,
                        expected=prep.EXPECTED_SMALL)
    assert first.out_dir == voc_inputs.voc
    aug = osp.join(voc_inputs.voc, 'SegmentationClassAug')
    before = {
        n: os.stat(osp.join(aug, n)).st_mtime_ns
        for n in os.listdir(aug)
    }
    contents = _files(voc_inputs.voc)
    os.remove(osp.join(aug, '2008_000011.png'))
    second = prepare_voc(voc_inputs.voc,
                         voc_inputs.sbd,
                         expected=prep.EXPECTED_SMALL)
    assert second.counts['sbd_masks_converted'] == 1
    assert second.counts['sbd_masks_kept'] == 2
    assert second.counts['voc_masks_kept'] == 4
    assert _files(voc_inputs.voc) == contents
    for name, mtime in before.items():
        if name != '2008_000011.png':
            assert os.stat(osp.join(aug, name)).st_mtime_ns == mtime
    assert not [n for n in os.listdir(aug) if '.tmp-' in n]


def test_label_source_mask(voc_inputs, prep):
    out = str(voc_inputs.tmp / 'out')
    prepare_voc(voc_inputs.voc,
                voc_inputs.sbd,
                out,
                label_source='mask',
                expected=prep.EXPECTED_SMALL)
    _, rows = _tsv(osp.join(out, 'ImageSets/Segmentation/image_labels.tsv'))
    for img_id, row in rows.items():
        want = sorted(prep.MASK_CLASSES[img_id], key=prep.VOC_NAMES.index)
        assert row[3].split() == want
    assert rows['2008_000010'][3] == 'dog'


def test_bad_values_and_sizes_raise_naming_files(voc_inputs, prep):
    cls = osp.join(voc_inputs.sbd, 'dataset', 'cls')
    seg = voc_inputs.sbd_masks['2008_000011'].copy()
    seg[2, 2] = 21
    prep.save_sbd_mat(osp.join(cls, '2008_000011.mat'), seg)
    prep.save_sbd_mat(osp.join(cls, '2008_000012.mat'),
                      np.zeros((3, 3), dtype=np.uint8))
    out = str(voc_inputs.tmp / 'out')
    with pytest.raises(PrepareError) as err:
        prepare_voc(voc_inputs.voc,
                    voc_inputs.sbd,
                    out,
                    expected=prep.EXPECTED_SMALL)
    msg = str(err.value)
    assert '2 problem(s)' in msg
    assert 'cls/2008_000011.mat: mask values [21] outside 0..20' in msg
    assert 'cls/2008_000012.mat: mask is 3x3 (WxH) but its image is' in msg
    # Valid masks were written (a rerun resumes); lists were not.
    aug = osp.join(out, 'SegmentationClassAug')
    assert osp.isfile(osp.join(aug, '2008_000010.png'))
    assert not osp.exists(osp.join(aug, '2008_000011.png'))
    assert not osp.exists(osp.join(out,
                                   'ImageSets/Segmentation/train_aug.txt'))


def test_rgb_voc_mask_is_a_problem(voc_inputs, prep):
    path = osp.join(voc_inputs.voc, 'SegmentationClass', '2007_000004.png')
    Image.open(path).convert('RGB').save(path)
    with pytest.raises(PrepareError, match="2007_000004.png: mode 'RGB'"):
        prepare_voc(voc_inputs.voc,
                    voc_inputs.sbd,
                    str(voc_inputs.tmp / 'out'),
                    expected=prep.EXPECTED_SMALL)


def test_partial_inputs(voc_inputs, prep):
    os.remove(osp.join(voc_inputs.sbd, 'dataset', 'cls', '2008_000012.mat'))
    out = str(voc_inputs.tmp / 'out')
    # The official counts: every list is short, and one id has no mask.
    with pytest.raises(PrepareError) as err:
        prepare_voc(voc_inputs.voc, voc_inputs.sbd, out)
    msg = str(err.value)
    assert 'VOC Segmentation/train.txt: 2 ids, expected 1464' in msg
    assert 'train_aug id 2008_000012: no mask' in msg
    assert '--allow-partial' in msg
    with pytest.warns(UserWarning, match='partial input'):
        report = prepare_voc(voc_inputs.voc,
                             voc_inputs.sbd,
                             out,
                             allow_partial=True)
    assert _ids(osp.join(out, 'ImageSets/Segmentation/train_aug.txt')) == \
        prep.TRAIN_AUG[:-1]
    assert any('2008_000012' in w for w in report.warnings)


def test_bad_arguments(voc_inputs, tmp_path, prep):
    with pytest.raises(ValueError, match='label_source must be one of'):
        prepare_voc(voc_inputs.voc, voc_inputs.sbd, label_source='png')
    with pytest.raises(FileNotFoundError, match='VOC input'):
        prepare_voc(str(tmp_path / 'nothing'), voc_inputs.sbd)
    with pytest.raises(ValueError, match='is an archive: give out_dir'):
        prepare_voc(voc_inputs.voc_tar(), voc_inputs.sbd)
    with open(osp.join(voc_inputs.sbd, 'dataset', 'val.txt'), 'a') as f:
        f.write('2008_000012\n')
    with pytest.raises(ValueError, match=r'val.txt line 3: duplicate id'):
        prepare_voc(voc_inputs.voc,
                    voc_inputs.sbd,
                    str(tmp_path / 'o'),
                    expected=prep.EXPECTED_SMALL)
