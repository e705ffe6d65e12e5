"""prepare_coco: 81-class masks, lists and labels from COCO instances."""
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image

from mmcpal.datasets.coco import COCO14_CLASSES
from mmcpal.datasets.prepare.coco import (category_map, coco_objects,
                                          prepare_coco, render_semantic_mask,
                                          segmentation_to_mask)
from mmcpal.datasets.prepare.report import PrepareError

A = 'COCO_train2014_000000000001'
B = 'COCO_train2014_000000000002'
C = 'COCO_train2014_000000000003'
D = 'COCO_val2014_000000000004'
E = 'COCO_val2014_000000000005'


def _mask(out, stem):
    split = stem.split('_')[1]
    with Image.open(osp.join(out, 'SegmentationClass', split,
                             stem + '.png')) as img:
        assert img.mode == 'P'
        return np.array(img)


def _rows(out):
    with open(osp.join(out, 'ImageSets/Segmentation/image_labels.tsv')) as f:
        lines = f.read().splitlines()
    return {line.split('\t')[0]: line.split('\t')[1:] for line in lines[1:]}


def _ids(out, name):
    with open(osp.join(out, 'ImageSets/Segmentation', name)) as f:
        return f.read().split()


def _objects(coco_inputs, stem, split='train2014'):
    cmap = category_map(coco_inputs.data[split]['categories'], 'x.json')
    return coco_objects([a for a, _ in coco_inputs.anns[stem]], cmap)


def test_category_map_is_the_standard_order(prep):
    cats = [dict(id=i, name=n) for i, n in prep.COCO_CATEGORIES]
    cmap = category_map(cats, 'x.json')
    assert cmap[1] == prep.PERSON == 1 and cmap[18] == prep.DOG == 17
    assert cmap[13] == prep.STOP_SIGN == 12 and cmap[90] == 80
    assert COCO14_CLASSES[cmap[10] - 1] == 'traffic_light'
    with pytest.raises(ValueError, match='x.json: categories have ids'):
        category_map(cats[:-1], 'x.json')
    renamed = [dict(c, name='dog') if c['id'] == 1 else c for c in cats]
    with pytest.raises(ValueError, match=r"\(1, 'dog', 'person'\)"):
        category_map(renamed, 'x.json')


@pytest.mark.parametrize('crowd', ['class', 'ignore'])
@pytest.mark.parametrize('stem', [A, B])
def test_render_matches_the_per_pixel_oracle(coco_inputs, prep, stem, crowd):
    h, w = coco_inputs.sizes[stem]
    mask, dropped = render_semantic_mask(h, w, _objects(coco_inputs, stem),
                                         crowd)
    expected = prep.oracle_mask(coco_inputs.anns[stem], h, w, crowd)
    np.testing.assert_array_equal(mask, expected)
    assert dropped == (1 if stem == B else 0)


def test_render_overlaps_by_hand(coco_inputs, prep):
    h, w = coco_inputs.sizes[A]
    objs = _objects(coco_inputs, A)
    by_class, _ = render_semantic_mask(h, w, objs, 'class')
    by_ignore, _ = render_semantic_mask(h, w, objs, 'ignore')
    assert by_class[3, 3] == by_ignore[3, 3] == prep.PERSON
    assert by_class[6, 10] == by_ignore[6, 10] == prep.DOG  # small on top
    # Person (area 234) under crowd car (area 150): class mode paints the
    # smaller car on top; ignore mode keeps the person over the crowd.
    assert by_class[12, 17] == prep.CAR and by_ignore[12, 17] == prep.PERSON
    assert by_class[18, 25] == prep.CAR and by_ignore[18, 25] == 255
    # Cat (id 104) and bird (id 105) have equal areas: lower id on top.
    assert by_class[3, 24] == prep.CAT and by_class[4, 27] == prep.BIRD
    assert by_class[0, 0] == 0


def test_segmentation_formats(prep):
    binary = prep.box(6, 5, 1, 4, 2, 5)
    for seg in (prep.rle_uncompressed(binary), ):
        got, dropped = segmentation_to_mask(seg, 6, 5, 'ann')
        np.testing.assert_array_equal(got, binary)
        assert dropped == 0
    empty, dropped = segmentation_to_mask([[1, 1, 2, 2]], 6, 5, 'ann')
    assert not empty.any() and dropped == 1
    with pytest.raises(ValueError, match=r'ann 7: RLE size \[6, 5\] but'):
        segmentation_to_mask(prep.rle_uncompressed(binary), 5, 6, 'ann 7')
    with pytest.raises(ValueError, match='neither polygons nor RLE'):
        segmentation_to_mask('x', 6, 5, 'ann')


def test_prepare_end_to_end(coco_inputs, prep):
    out = str(coco_inputs.tmp / 'out')
    report = prepare_coco(coco_inputs.ann_dir,
                          out,
                          img_root=coco_inputs.img_root,
                          expected=coco_inputs.expected)
    for stem, anns in coco_inputs.anns.items():
        h, w = coco_inputs.sizes[stem]
        np.testing.assert_array_equal(_mask(out, stem),
                                      prep.oracle_mask(anns, h, w, 'class'))
    assert not _mask(out, C).any()
    rows = _rows(out)
    assert rows[A] == [
        'train', '30', '20', 'person car bird cat dog',
        f'{prep.PERSON} {prep.CAR} {prep.BIRD} {prep.CAT} {prep.DOG}'
    ]
    assert rows[B][3:] == ['stop_sign toothbrush', '12 80']
    assert rows[C] == ['train', '8', '8', '', '']
    assert rows[D][0] == 'val' and rows[D][3:] == ['traffic_light', '10']
    assert rows[E][3] == 'person'  # crowd counts as its class by default
    assert _ids(out, 'train.txt') == [A, B]  # C has no class
    assert _ids(out, 'val.txt') == [D, E]
    assert osp.realpath(osp.join(out, 'JPEGImages', 'train2014')) == \
        osp.realpath(osp.join(coco_inputs.img_root, 'train2014'))
    assert report.counts['train_masks_rendered'] == 3
    assert report.counts['val_images_with_labels'] == 2
    assert report.counts['degenerate_polygons_dropped'] == 1
    assert report.counts['train_crowd_objects'] == 1
    assert 'mean time per rendered mask' in report.timings


def test_dataset_reads_the_output(coco_inputs):
    from mmcpal.datasets.coco import COCO14ImageLevelDataset
    out = str(coco_inputs.tmp / 'out')
    prepare_coco(coco_inputs.ann_dir,
                 out,
                 img_root=coco_inputs.img_root,
                 expected=coco_inputs.expected)
    ds = COCO14ImageLevelDataset(ann_file='ImageSets/Segmentation/val.txt',
                                 data_root=out,
                                 data_prefix=dict(
                                     img_path='JPEGImages/val2014',
                                     seg_map_path='SegmentationClass/val2014'))
    info = ds.get_data_info(0)
    assert info['img_id'] == D and info['label_names'] == ['traffic_light']
    assert info['gt_label'].shape == (80, ) and info['gt_label'][9] == 1
    assert osp.isfile(info['img_path']) and osp.isfile(info['seg_map_path'])


def test_workers_resume_and_crowd_ignore(coco_inputs):
    one = str(coco_inputs.tmp / 'one')
    two = str(coco_inputs.tmp / 'two')
    kw = dict(img_root=coco_inputs.img_root, expected=coco_inputs.expected)
    prepare_coco(coco_inputs.ann_dir, one, workers=1, **kw)
    prepare_coco(coco_inputs.ann_dir, two, workers=2, **kw)
    for stem in coco_inputs.sizes:
        np.testing.assert_array_equal(_mask(one, stem), _mask(two, stem))
    assert _rows(one) == _rows(two)

    mask_b = osp.join(one, 'SegmentationClass', 'train2014', B + '.png')
    os.remove(mask_b)
    again = prepare_coco(coco_inputs.ann_dir, one, **kw)
    assert again.counts['train_masks_kept'] == 2
    assert again.counts['train_masks_rendered'] == 1
    assert again.counts['val_masks_kept'] == 2
    assert _rows(one) == _rows(two)

    with pytest.raises(ValueError, match="rendered with crowd='class'"):
        prepare_coco(coco_inputs.ann_dir, one, crowd='ignore', **kw)
    ign = str(coco_inputs.tmp / 'ignore')
    prepare_coco(coco_inputs.ann_dir, ign, crowd='ignore', **kw)
    rows = _rows(ign)
    assert rows[E][3:] == ['', '']  # crowd-only class is no label
    assert _ids(ign, 'val.txt') == [D]
    assert set(np.unique(_mask(ign, E))) == {0, 255}


def test_preparing_one_split_keeps_the_other_rows(coco_inputs):
    out = str(coco_inputs.tmp / 'out')
    kw = dict(img_root=coco_inputs.img_root, expected=coco_inputs.expected)
    prepare_coco(coco_inputs.ann_dir, out, splits=['val2014'], **kw)
    assert sorted(_rows(out)) == [D, E]
    prepare_coco(coco_inputs.ann_dir, out, splits=['train2014'], **kw)
    assert sorted(_rows(out)) == [A, B, C, D, E]


def _rewrite(coco_inputs, split, edit):
    path = osp.join(coco_inputs.ann_dir, f'instances_{split}.json')
    data = json.loads(open(path).read())
    edit(data)
    with open(path, 'w') as f:
        json.dump(data, f)


def test_broken_inputs_raise(coco_inputs, prep):
    out = str(coco_inputs.tmp / 'out')
    kw = dict(img_root=coco_inputs.img_root, expected=coco_inputs.expected)

    def bad_rle(data):
        data['annotations'][1]['segmentation']['size'] = [21, 30]

    _rewrite(coco_inputs, 'train2014', bad_rle)
    prep.save_jpeg(osp.join(coco_inputs.img_root, 'val2014', D + '.jpg'),
                   (11, 10))
    with pytest.raises(PrepareError) as err:
        prepare_coco(coco_inputs.ann_dir, out, **kw)
    msg = str(err.value)
    assert f'{A}: annotation 102: RLE size [21, 30]' in msg
    assert f'{D}.jpg: image is 10x11 but the json says 10x10' in msg
    assert not osp.exists(osp.join(out, 'ImageSets/Segmentation/train.txt'))

    def orphan(data):
        data['annotations'][0]['image_id'] = 999

    _rewrite(coco_inputs, 'val2014', orphan)
    with pytest.raises(ValueError, match=r'image ids not in "images": \[999'):
        prepare_coco(coco_inputs.ann_dir, out, splits=['val2014'], **kw)


def test_partial_inputs(coco_inputs):
    os.remove(osp.join(coco_inputs.img_root, 'train2014', B + '.jpg'))
    out = str(coco_inputs.tmp / 'out')
    with pytest.raises(PrepareError) as err:
        prepare_coco(coco_inputs.ann_dir, out, img_root=coco_inputs.img_root)
    msg = str(err.value)
    assert 'instances_train2014.json: 3 images, expected 82783' in msg
    assert 'image missing: ' in msg and B in msg
    with pytest.warns(UserWarning, match='partial input'):
        prepare_coco(coco_inputs.ann_dir,
                     out,
                     img_root=coco_inputs.img_root,
                     allow_partial=True)
    assert _ids(out, 'train.txt') == [A]
    assert B not in _rows(out)


def test_bad_arguments_and_missing_pycocotools(coco_inputs, monkeypatch):
    out = str(coco_inputs.tmp / 'out')
    with pytest.raises(ValueError, match='crowd must be one of'):
        prepare_coco(coco_inputs.ann_dir, out, crowd='drop')
    with pytest.raises(ValueError, match='workers must be >= 1'):
        prepare_coco(coco_inputs.ann_dir, out, workers=0)
    with pytest.raises(FileNotFoundError, match='instances_test2014.json'):
        prepare_coco(coco_inputs.ann_dir, out, splits=['test2014'])
    monkeypatch.setitem(sys.modules, 'pycocotools', None)
    with pytest.raises(ImportError, match=r'mmcpal\[coco\]'):
        prepare_coco(coco_inputs.ann_dir, out)
