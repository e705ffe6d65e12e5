"""Tests of the synthetic demo set generator and its data set class."""
import json
import os
import os.path as osp
import runpy
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from mmcpal.datasets.synthetic.generator import (CARD_NAME, PROGRESS_NAME,
                                                 generate_demo_dataset)
from mmcpal.datasets.synthetic.metainfo import (DEMO_CLASSES, DEMO_CONTEXTS,
                                                DEMO_METAINFO, DEMO_PARTS,
                                                DEMO_SUBTYPES)
from mmcpal.datasets.synthetic.scene import sample_scenes
from mmcpal.datasets.synthetic.shapes import SUBTYPES, render_object

NUM_TRAIN, NUM_VAL = 24, 6
C = len(DEMO_CLASSES) - 1
# VOC colour map entries 0..6 and 255, written out by hand.
VOC_COLOURS = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0),
               4: (0, 0, 128), 5: (128, 0, 128), 6: (0, 128, 128),
               255: (224, 224, 192)}


def _all_files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


def _read_tsv(root):
    path = osp.join(root, 'ImageSets', 'Segmentation', 'image_labels.tsv')
    with open(path) as f:
        lines = f.read().splitlines()
    return lines[0], [line.split('\t') for line in lines[1:]]


def _records(root):
    with open(osp.join(root, 'scenes.jsonl')) as f:
        return [json.loads(line) for line in f]


def _mask(root, img_id):
    with Image.open(osp.join(root, 'SegmentationClass', img_id + '.png')) as m:
        return m.mode, m.getpalette(), np.array(m)


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo') / 'set')
    summary = generate_demo_dataset(root, NUM_TRAIN, NUM_VAL, seed=0)
    return root, summary


def test_metainfo_classes_and_subtypes():
    assert DEMO_CLASSES[0] == 'background' and C >= 6
    assert len(DEMO_CONTEXTS) == C == len(set(DEMO_CONTEXTS))
    assert DEMO_METAINFO['palette'] == [list(VOC_COLOURS[i])
                                        for i in range(C + 1)]
    for cls in DEMO_CLASSES[1:]:
        subs = SUBTYPES[cls]
        assert len(subs) >= 2 and tuple(subs) == DEMO_SUBTYPES[cls]
        (na, a), (nb, b) = list(subs.items())[:2]
        # visually different: another body texture, and another silhouette
        # (aspect ranges apart or masks differing at a common box size)
        assert a.texture != b.texture, cls
        ma = render_object(np.random.default_rng(0), cls, na, 80, 50)[1]
        mb = render_object(np.random.default_rng(0), cls, nb, 80, 50)[1]
        iou = max((m & mb).sum() / (m | mb).sum() for m in (ma, ma[:, ::-1]))
        apart = a.aspect[1] < b.aspect[0] or b.aspect[1] < a.aspect[0]
        assert apart or iou < 0.85, (cls, iou)
    colours = [c for _, c1, c2 in DEMO_PARTS.values() for c in (c1, c2)]
    assert len(set(colours)) == len(colours)  # part colours are unique


def test_first_run_summary(demo):
    root, summary = demo
    assert summary['generated'] is True
    assert summary['num_train'] == NUM_TRAIN and summary['num_val'] == NUM_VAL
    assert list(summary['context_cooccurrence']) == list(DEMO_CLASSES[1:])
    assert not osp.exists(osp.join(root, PROGRESS_NAME))


def test_file_layout_and_counts(demo):
    root, _ = demo
    files = sorted(_all_files(root))
    train = [f'demo_train_{i:05d}' for i in range(NUM_TRAIN)]
    val = [f'demo_val_{i:05d}' for i in range(NUM_VAL)]
    expected = sorted(
        [f'JPEGImages/{i}.jpg' for i in train + val] +
        [f'SegmentationClass/{i}.png' for i in train + val] + [
            'ImageSets/Segmentation/train.txt',
            'ImageSets/Segmentation/val.txt',
            'ImageSets/Segmentation/image_labels.tsv', 'scenes.jsonl',
            CARD_NAME
        ])
    assert files == expected
    sets = osp.join(root, 'ImageSets', 'Segmentation')
    assert open(osp.join(sets, 'train.txt')).read() == ''.join(
        i + '\n' for i in train)
    assert open(osp.join(sets, 'val.txt')).read().split() == val


def test_masks_values_palette_and_void_border(demo):
    root, _ = demo
    for rec in _records(root):
        mode, palette, mask = _mask(root, rec['id'])
        assert mode == 'P' and mask.shape == (rec['height'], rec['width'])
        for value, rgb in VOC_COLOURS.items():
            assert tuple(palette[3 * value:3 * value + 3]) == rgb
        assert set(np.unique(mask).tolist()) <= set(range(C + 1)) | {255}
        assert (mask == 255).any()
        # an object pixel never touches a background pixel: the void band
        # (4-neighbours checked by hand with shifted views)
        fg, bg = (mask >= 1) & (mask <= C), mask == 0
        for a, b in ((fg[1:], bg[:-1]), (fg[:-1], bg[1:]),
                     (fg[:, 1:], bg[:, :-1]), (fg[:, :-1], bg[:, 1:])):
            assert not (a & b).any(), rec['id']


def test_label_table_matches_masks_and_images(demo):
    root, _ = demo
    header, rows = _read_tsv(root)
    assert header == 'id\tsplit\twidth\theight\tclasses\tclass_ids'
    records = {r['id']: r for r in _records(root)}
    assert [r[0] for r in rows] == list(records)
    for img_id, split, width, height, names, class_ids in rows:
        assert split == img_id.split('_')[1]
        with Image.open(osp.join(root, 'JPEGImages', img_id + '.jpg')) as im:
            assert im.size == (int(width), int(height)) and im.mode == 'RGB'
        values = set(np.unique(_mask(root, img_id)[2]).tolist())
        ids = [int(i) for i in class_ids.split()]
        assert set(ids) == values - {0, 255}
        assert names.split() == [DEMO_CLASSES[i] for i in ids]
        assert set(ids) == {o['class_id'] for o in records[img_id]['objects']}


def test_sizes_and_object_counts(demo):
    root, _ = demo
    for rec in _records(root):
        assert 128 <= rec['height'] <= 192 and 128 <= rec['width'] <= 192
        assert 1 <= len(rec['objects']) <= 3
        for o in rec['objects']:
            x0, y0, x1, y1 = o['bbox']
            assert 0 <= x0 < x1 <= rec['width']
            assert 0 <= y0 < y1 <= rec['height']
            assert 0.7 * 30 <= max(x1 - x0, y1 - y0) <= 90


def test_parts_are_drawn_inside_objects(demo):
    root, _ = demo
    checked = 0
    for rec in _records(root):
        img = np.asarray(Image.open(
            osp.join(root, 'JPEGImages', rec['id'] + '.jpg')), np.float32)
        mask = _mask(root, rec['id'])[2]
        for o in rec['objects']:
            x0, y0, x1, y1 = o['part_bbox']
            assert o['bbox'][0] <= x0 and x1 < o['bbox'][2]
            cx, cy, r = (x0 + x1) // 2, (y0 + y1) // 2, (x1 - x0) // 2
            assert mask[cy, cx] == o['class_id']
            if r < 5 or o['part_area'] < (2 * r + 1)**2 * 0.9:
                continue  # too small for JPEG colours, or partly occluded
            shape, outer, inner = DEMO_PARTS[o['class']]
            centre = outer if shape in ('cross', 'ring') else inner
            got = img[cy - 1:cy + 2, cx - 1:cx + 2].reshape(-1, 3).mean(0)
            assert np.abs(got - centre).max() < 70, (rec['id'], o, got)
            checked += 1
    assert checked >= 10


def test_cooccurrence_statistics(demo):
    root, _ = demo
    records = _records(root)
    card = json.load(open(osp.join(root, CARD_NAME)))
    alone = 0
    for r in records:
        present = {o['class_id'] for o in r['objects']}
        ctx = {o['context'] for o in r['objects'] if o['context']}
        if r['lone_context']:
            ctx.add(r['lone_context']['context'])
        alone += any(DEMO_CONTEXTS.index(c) + 1 not in present for c in ctx)
    assert 0 < alone / len(records) <= 0.1
    assert card['statistics']['overall']['context_alone_images'] == alone
    for k, name in enumerate(DEMO_CLASSES[1:], start=1):
        with_k = [r for r in records
                  if any(o['class_id'] == k for o in r['objects'])]
        on_ctx = [r for r in with_k if any(
            o['class_id'] == k and o['context'] == DEMO_CONTEXTS[k - 1]
            for o in r['objects'])]
        assert with_k and len(on_ctx) / len(with_k) >= 0.7, name
        stats = card['statistics']['classes'][name]
        assert (stats['images'], stats['images_with_context']) == (len(
            with_k), len(on_ctx))
    for o in (o for r in records for o in r['objects'] if o['context']):
        assert o['context_area'] > 0.3 * o['area']  # a sizeable context


def test_scene_quotas_exact():
    scenes = sample_scenes(np.random.default_rng(3), 200, C, 0.8, 0.05)
    assert all(1 <= len(s.classes) <= 3 for s in scenes)
    for k in range(1, C + 1):
        flags = [w for s in scenes for c, w in zip(s.classes, s.with_context)
                 if c == k]
        assert len(flags) - sum(flags) == int(np.floor(0.2 * len(flags) +
                                                       0.5))
    lone = [s for s in scenes if s.lone_context is not None]
    assert len(lone) == 10
    assert all(s.lone_context not in s.classes for s in lone)


def test_determinism(demo, tmp_path):
    root, _ = demo
    again = str(tmp_path / 'again')
    generate_demo_dataset(again, NUM_TRAIN, NUM_VAL, seed=0)
    assert _all_files(again) == _all_files(root)
    other = str(tmp_path / 'other')
    generate_demo_dataset(other, NUM_TRAIN, NUM_VAL, seed=1)
    a, b = _all_files(root), _all_files(other)
    assert a.keys() == b.keys()
    jpgs = [k for k in a if k.endswith('.jpg')]
    assert sum(a[k] != b[k] for k in jpgs) == len(jpgs)


def test_idempotent_and_recovers(demo, tmp_path):
    root, _ = demo
    ref = _all_files(root)
    work = str(tmp_path / 'work')
    shutil.copytree(root, work)
    img = osp.join(work, 'JPEGImages', 'demo_train_00003.jpg')
    mtime = os.stat(img).st_mtime_ns
    assert generate_demo_dataset(work, NUM_TRAIN, NUM_VAL,
                                 seed=0)['generated'] is False
    assert os.stat(img).st_mtime_ns == mtime
    # a killed run: one file missing, one temporary file left over
    os.remove(osp.join(work, 'SegmentationClass', 'demo_val_00001.png'))
    with open(img + '.tmp-999', 'wb') as f:
        f.write(b'half')
    assert generate_demo_dataset(work, NUM_TRAIN, NUM_VAL,
                                 seed=0)['generated'] is True
    assert _all_files(work) == ref
    # killed before the card: the progress marker is there, no card
    os.remove(osp.join(work, CARD_NAME))
    open(osp.join(work, PROGRESS_NAME), 'w').close()
    assert generate_demo_dataset(work, NUM_TRAIN, NUM_VAL,
                                 seed=0)['generated'] is True
    assert _all_files(work) == ref


def test_older_generator_version_is_redrawn(demo, tmp_path):
    root, _ = demo
    work = str(tmp_path / 'work')
    shutil.copytree(root, work)
    card_path = osp.join(work, CARD_NAME)
    card = json.load(open(card_path))
    card['params']['generator_version'] -= 1
    with open(card_path, 'w') as f:
        json.dump(card, f, indent=2, sort_keys=True)
        f.write('\n')
    assert generate_demo_dataset(work, NUM_TRAIN, NUM_VAL,
                                 seed=0)['generated'] is True
    assert _all_files(work) == _all_files(root)


def test_other_params_need_overwrite(demo, tmp_path):
    root, _ = demo
    work = str(tmp_path / 'work')
    shutil.copytree(root, work)
    with pytest.raises(ValueError, match=r"seed.*overwrite=True"):
        generate_demo_dataset(work, NUM_TRAIN, NUM_VAL, seed=5)
    summary = generate_demo_dataset(work, 3, 1, seed=5, overwrite=True)
    assert summary['generated'] and summary['seed'] == 5
    # images of the bigger earlier set are gone
    assert sorted(os.listdir(osp.join(work, 'JPEGImages'))) == [
        'demo_train_00000.jpg', 'demo_train_00001.jpg',
        'demo_train_00002.jpg', 'demo_val_00000.jpg'
    ]


def test_bad_arguments_and_foreign_folder(tmp_path):
    with pytest.raises(ValueError, match='num_train must be'):
        generate_demo_dataset(str(tmp_path / 'a'), num_train=-1)
    with pytest.raises(ValueError, match=r'context_rate must be in \[0, 1\]'):
        generate_demo_dataset(str(tmp_path / 'a'), context_rate=1.5)
    with pytest.raises(ValueError, match='object_size max'):
        generate_demo_dataset(str(tmp_path / 'a'), object_size=(30, 200))
    foreign = tmp_path / 'voc'
    foreign.mkdir()
    (foreign / 'readme.txt').write_text('a real data set')
    with pytest.raises(ValueError, match='not empty and holds no demo'):
        generate_demo_dataset(str(foreign), 2, 1)
    assert os.listdir(foreign) == ['readme.txt']


def test_cli(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / 'cli')
    script = osp.join(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))), 'tools', 'make_demo_data.py')
    monkeypatch.setattr(sys, 'argv', [script, out, '--num-train', '3',
                                      '--num-val', '2', '--seed', '7'])
    runpy.run_path(script, run_name='__main__')
    text = capsys.readouterr().out
    assert 'demo set generated' in text and '3 train + 2 val' in text
    assert json.load(open(osp.join(out, CARD_NAME)))['params']['seed'] == 7


def test_dataset_class_reads_labels(demo):
    from mmcpal.datasets.synthetic.dataset import SyntheticWSSSDataset
    from mmcpal.registry import DATASETS
    root, _ = demo
    assert DATASETS.get('SyntheticWSSSDataset') is SyntheticWSSSDataset
    ds = SyntheticWSSSDataset(
        data_root=root, ann_file='ImageSets/Segmentation/val.txt')
    assert len(ds) == NUM_VAL
    assert ds.metainfo['classes'] == DEMO_CLASSES
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        values = np.unique(_mask(root, info['img_id'])[2])
        expected = np.zeros(C, np.float32)
        expected[[v - 1 for v in values if 1 <= v <= C]] = 1
        np.testing.assert_array_equal(info['gt_label'], expected)
        assert info['label_names'] == [
            DEMO_CLASSES[v] for v in values if 1 <= v <= C
        ]
        assert info['seg_map_path'].endswith(info['img_id'] + '.png')
