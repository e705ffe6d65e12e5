"""Fixtures for the data set tests: a tiny VOC-layout folder in tmp_path.

Four images whose three label sources deliberately disagree, so a test can
tell which source was read:

=====  ==========================  ==================  ======================
id     label file (tsv)            mask values         XML objects
=====  ==========================  ==================  ======================
img_a  aeroplane person            0 1 15 255          aeroplane, person
                                                       (difficult, with a
                                                       <part> named head)
img_b  dog                         0 12 255            dog, cat
img_c  (none)                      0 255               (none)
img_d  sofa tvmonitor              0 20 255            tvmonitor
=====  ==========================  ==================  ======================
"""
import os
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
               'tvmonitor')

IDS = ('img_a', 'img_b', 'img_c', 'img_d')
SIZES = dict(img_a=(12, 16), img_b=(16, 12), img_c=(10, 10), img_d=(8, 20))
MASK_VALUES = dict(img_a=(1, 15), img_b=(12, ), img_c=(), img_d=(20, ))
FILE_NAMES = dict(
    img_a=('aeroplane', 'person'),
    img_b=('dog', ),
    img_c=(),
    img_d=('sofa', 'tvmonitor'))
XML_NAMES = dict(
    img_a=('aeroplane', 'person'),
    img_b=('dog', 'cat'),
    img_c=(),
    img_d=('tvmonitor', ))


def multi_hot(names):
    """Expected (20,) float32 label built by hand from VOC names."""
    label = np.zeros(20, dtype=np.float32)
    for name in names:
        label[VOC_CLASSES.index(name)] = 1
    return label


def _palette():
    """The VOC colour map, flattened for PIL."""
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


def write_mask(path, mask):
    """Write a palette PNG holding ``mask`` as indices."""
    img = Image.fromarray(mask.astype(np.uint8), mode='P')
    img.putpalette(_palette())
    img.save(path)


def make_mask(img_id):
    """A mask with a 255 border, background, and one block per class."""
    h, w = SIZES[img_id]
    mask = np.zeros((h, w), np.uint8)
    for k, value in enumerate(MASK_VALUES[img_id]):
        mask[2:h - 2, 2 + 3 * k:4 + 3 * k] = value
    mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = 255
    return mask


def _xml(img_id):
    objects = []
    for name in XML_NAMES[img_id]:
        difficult = 1 if name == 'person' else 0
        part = ('<part><name>head</name></part>' if name == 'person' else '')
        objects.append(f'<object><name>{name}</name><pose>Left</pose>'
                       f'<difficult>{difficult}</difficult>{part}</object>')
    return (f'<annotation><filename>{img_id}.jpg</filename>'
            f'{"".join(objects)}</annotation>')


def write_label_file(path, rows):
    """Write a tsv label table; ``rows`` are (id, names, ids-or-None)."""
    lines = ['id\tsplit\twidth\theight\tclasses\tclass_ids']
    for img_id, names, class_ids in rows:
        if class_ids is None:
            class_ids = [VOC_CLASSES.index(n) + 1 for n in names]
        lines.append(f'{img_id}\ttrain\t10\t10\t{" ".join(names)}\t'
                     f'{" ".join(str(i) for i in class_ids)}')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


@pytest.fixture
def tiny_voc(tmp_path):
    """Build the tiny VOC folder; return paths, masks and expected labels."""
    root = str(tmp_path / 'voc')
    dirs = {
        name: osp.join(root, name)
        for name in ('JPEGImages', 'SegmentationClass', 'Annotations',
                     'ImageSets/Segmentation')
    }
    for d in dirs.values():
        os.makedirs(d)
    rng = np.random.RandomState(0)
    masks, images = {}, {}
    for img_id in IDS:
        h, w = SIZES[img_id]
        images[img_id] = rng.randint(0, 256, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(osp.join(dirs['JPEGImages'], img_id + '.jpg'),
                    images[img_id])
        masks[img_id] = make_mask(img_id)
        write_mask(osp.join(dirs['SegmentationClass'], img_id + '.png'),
                   masks[img_id])
        with open(osp.join(dirs['Annotations'], img_id + '.xml'), 'w') as f:
            f.write(_xml(img_id))
    sets = dirs['ImageSets/Segmentation']
    # Blank lines must be ignored.
    with open(osp.join(sets, 'train.txt'), 'w') as f:
        f.write('img_a\n\nimg_b\nimg_c\n  \nimg_d\n')
    write_label_file(
        osp.join(sets, 'image_labels.tsv'),
        [(i, FILE_NAMES[i], None) for i in IDS])
    expected = dict(
        file={i: multi_hot(FILE_NAMES[i])
              for i in IDS},
        mask={
            i: multi_hot([VOC_CLASSES[v - 1] for v in MASK_VALUES[i]])
            for i in IDS
        },
        xml={i: multi_hot(XML_NAMES[i])
             for i in IDS})
    return SimpleNamespace(
        root=root,
        dirs=dirs,
        ann_file='ImageSets/Segmentation/train.txt',
        label_file=osp.join(sets, 'image_labels.tsv'),
        masks=masks,
        expected=expected,
        labelled_ids=('img_a', 'img_b', 'img_d'))


@pytest.fixture(scope='session')
def voc12_mini_root():
    """The shared voc12-mini folder beside the repo root, or skip."""
    repo_root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    root = osp.join(osp.dirname(repo_root), 'shared', 'data', 'voc12-mini')
    if not osp.isdir(root):
        pytest.skip(f'{root} not found (the voc12-mini data set lives in '
                    '../shared/data/voc12-mini beside the repo root)')
    return root


@pytest.fixture(scope='session')
def voc_helpers():
    """Helpers for tests (conftest modules cannot be imported by name)."""
    return SimpleNamespace(
        classes=VOC_CLASSES,
        multi_hot=multi_hot,
        write_mask=write_mask,
        write_label_file=write_label_file,
        palette=_palette)
