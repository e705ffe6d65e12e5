"""check_dataset: every seeded defect is found; statistics by hand."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmcpal.datasets.prepare.check import check_dataset, format_check_report

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
VOC = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
       'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
       'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


def _layout(root, masks, images, prep, ids=None):
    """Write JPEGs (id -> (h, w)) and palette masks (id -> array)."""
    os.makedirs(osp.join(root, 'JPEGImages'), exist_ok=True)
    os.makedirs(osp.join(root, 'SegmentationClass'), exist_ok=True)
    for k, (img_id, size) in enumerate(images.items()):
        prep.save_jpeg(osp.join(root, 'JPEGImages', img_id + '.jpg'), size, k)
    for img_id, mask in masks.items():
        prep.save_palette_png(
            osp.join(root, 'SegmentationClass', img_id + '.png'), mask)
    if ids is not None:
        os.makedirs(osp.join(root, 'ImageSets/Segmentation'), exist_ok=True)
        with open(osp.join(root, 'ImageSets/Segmentation/list.txt'), 'w') as f:
            f.writelines(f'{i}\n' for i in ids)


def test_statistics_by_hand(tmp_path, prep):
    a = np.array([[0, 0, 1, 1], [0, 15, 15, 255]], dtype=np.uint8)
    b = np.array([[0, 0, 0, 0], [0, 0, 0, 255]], dtype=np.uint8)
    c = np.full((2, 4), 255, dtype=np.uint8)
    root = str(tmp_path)
    _layout(root, dict(a=a, b=b, c=c), dict(a=(2, 4), b=(2, 4), c=(2, 4)),
            prep)
    rep = check_dataset(root, class_names=VOC)
    stats = rep['stats']
    # Non-ignore pixels: a 7, b 7, c 0 -> 14; foreground: a has 4.
    assert stats['foreground_fraction'] == pytest.approx(4 / 14)
    assert stats['ignore_fraction'] == pytest.approx(10 / 24)
    assert stats['class_pixel_fraction']['background'] == pytest.approx(10 /
                                                                        14)
    assert stats['class_pixel_fraction']['aeroplane'] == pytest.approx(2 / 14)
    assert stats['class_images'] == dict(
        {n: 0
         for n in ('background', ) + VOC},
        background=2,
        aeroplane=1,
        person=1)
    assert stats['mean_classes_per_image'] == pytest.approx(2 / 3)
    assert stats['all_background'] == 1 and stats['all_ignore'] == 1
    assert rep['warnings']['no_foreground'] == ['b', 'c']
    assert rep['ok'] and not rep['errors']
    assert any('67% of the masks have no foreground' in v
               for v in rep['verdict'])
    text = format_check_report(rep)
    assert 'foreground fraction     28.6%' in text and 'Result: OK' in text


def test_every_seeded_defect_is_found(tmp_path, prep):
    root = str(tmp_path)
    good = np.zeros((6, 8), dtype=np.uint8)
    good[1:4, 2:6] = 1
    good[4, 4] = 15
    size = (6, 8)
    masks = dict(good=good,
                 oor=np.where(good == 1, 30, good),
                 pal=good,
                 size=np.zeros((5, 8), dtype=np.uint8),
                 noimg=good,
                 unlisted=good)
    images = {
        i: size
        for i in ('good', 'rgb', 'jpg', 'jpgname', 'oor', 'pal', 'size',
                  'nomask')
    }
    ids = [
        'good', 'rgb', 'jpg', 'jpgname', 'oor', 'pal', 'size', 'noimg',
        'nomask'
    ]
    _layout(root, masks, images, prep, ids)
    seg = osp.join(root, 'SegmentationClass')
    # RGB colour rendering of a VOC mask.
    pal = np.array(prep.palette(), dtype=np.uint8).reshape(256, 3)
    Image.fromarray(pal[good]).save(osp.join(seg, 'rgb.png'))
    # Saved as JPEG (only a .jpg file) and JPEG content under a .png name.
    Image.fromarray(good * 10).save(osp.join(seg, 'jpg.jpg'))
    Image.fromarray(good * 10).save(osp.join(seg, 'jpgname.png'),
                                    format='JPEG')
    # Right indices, grey palette instead of VOC's.
    img = Image.fromarray(good)
    img.putpalette([v for i in range(256) for v in (i, i, i)])
    img.save(osp.join(seg, 'pal.png'))
    labels = osp.join(root, 'labels.tsv')
    with open(labels, 'w') as f:
        f.write('id\tclasses\ngood\taeroplane\n')

    rep = check_dataset(root,
                        split_file='ImageSets/Segmentation/list.txt',
                        label_file=labels,
                        class_names=VOC)
    errors, warnings = rep['errors'], rep['warnings']
    assert [e['id'] for e in errors['rgb_mask']] == ['rgb']
    assert '100% of pixels are VOC palette colours' in \
        errors['rgb_mask'][0]['detail']
    assert sorted(e['id'] for e in errors['jpeg_mask']) == ['jpg', 'jpgname']
    assert errors['out_of_range'] == [dict(id='oor', values=[30])]
    assert errors['size_mismatch'] == [
        dict(id='size', mask=[8, 5], image=[8, 6])
    ]
    assert errors['missing_image'] == ['noimg']
    assert errors['missing_mask'] == ['nomask']
    assert [w['id'] for w in warnings['wrong_palette']] == ['pal']
    assert warnings['unlisted_mask'] == ['unlisted.png']
    assert warnings['mask_classes_not_in_labels'] == [
        dict(id='good', classes=['person'])
    ]
    assert 'oor' in warnings['missing_label']
    assert not rep['ok']
    text = format_check_report(rep)
    for kind in ('rgb_mask', 'jpeg_mask', 'out_of_range', 'size_mismatch',
                 'missing_image', 'missing_mask', 'wrong_palette',
                 'unlisted_mask'):
        assert kind in text
    assert 'Result: 7 error(s)' in text
    assert any('colour images' in v for v in rep['verdict'])
    assert any('JPEG' in v for v in rep['verdict'])


def test_tool_writes_json_and_exit_status(tmp_path, prep):
    spec = importlib.util.spec_from_file_location(
        'check_dataset_tool', osp.join(REPO, 'tools', 'check_dataset.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    root = str(tmp_path / 'd')
    good = np.zeros((4, 4), dtype=np.uint8)
    good[1, 1] = 20
    _layout(root, dict(x=good), dict(x=(4, 4)), prep)
    out = str(tmp_path / 'r.json')
    assert tool.main([root, '--json', out]) == 0
    with open(out) as f:
        assert json.load(f)['stats']['class_images']['tvmonitor'] == 1
    os.remove(osp.join(root, 'JPEGImages', 'x.jpg'))
    assert tool.main([root]) == 1
    assert tool.main([str(tmp_path / 'none')]) == 2


def test_voc12_mini_is_clean(prep):
    root = osp.join(osp.dirname(REPO), 'shared', 'data', 'voc12-mini')
    if not osp.isdir(root):
        pytest.skip('../shared/data/voc12-mini not found beside the repo')
    rep = check_dataset(root,
                        split_file='ImageSets/Segmentation/train.txt',
                        label_file='ImageSets/Segmentation/image_labels.tsv',
                        class_names=VOC)
    assert rep['ok'] and not rep['warnings']
    assert rep['counts']['masks_read'] == 330
    assert 0.1 < rep['stats']['foreground_fraction'] < 0.5
