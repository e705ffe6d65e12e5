"""Tiny inputs in the real formats of VOC 2012, SBD and COCO 2014.

VOC / SBD ids (train_aug = (VOC train + SBD train + SBD val) - VOC val):

===========  =========  =========  ============================  ==========
id           VOC list   SBD list   mask in SegmentationClassAug  in
===========  =========  =========  ============================  ==========
2007_000001  train      -          VOC                           train_aug
2007_000002  train      train      VOC (SBD's differs)           train_aug
2007_000003  val        val        VOC (SBD's differs)           val
2007_000004  val        -          VOC                           val
2008_000010  -          train      SBD                           train_aug
2008_000011  -          train      SBD                           train_aug
2008_000012  -          val        SBD                           train_aug
===========  =========  =========  ============================  ==========

The XML of 2008_000010 names dog and cat while its mask holds only dog, so
tests can tell XML labels from mask labels.
"""
import json
import os
import os.path as osp
import tarfile
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

VOC_NAMES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
             'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
             'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
             'tvmonitor')
VOC_TRAIN = ['2007_000001', '2007_000002']
VOC_VAL = ['2007_000003', '2007_000004']
SBD_TRAIN = ['2007_000002', '2008_000010', '2008_000011']
SBD_VAL = ['2007_000003', '2008_000012']
TRAIN_AUG = [
    '2007_000001', '2007_000002', '2008_000010', '2008_000011', '2008_000012'
]
ALL_IDS = sorted(set(VOC_TRAIN + VOC_VAL + SBD_TRAIN + SBD_VAL))
# (height, width) per id, all different.
SIZES = {i: (10 + k, 14 + 2 * k) for k, i in enumerate(ALL_IDS)}
XML_NAMES = {
    '2007_000001': ('aeroplane', 'person'),
    '2007_000002': ('dog', ),
    '2007_000003': ('cat', ),
    '2007_000004': ('tvmonitor', 'sofa'),
    '2008_000010': ('dog', 'cat'),
    '2008_000011': ('bird', ),
    '2008_000012': ('horse', 'person'),
}
# Classes painted in the masks (VOC masks also get a 255 border).
MASK_CLASSES = dict(XML_NAMES, **{'2008_000010': ('dog', )})
EXPECTED_SMALL = dict(
    voc_train=2, voc_val=2, sbd_train=3, sbd_val=2, sbd_mats=5, train_aug=5)


def palette():
    """The VOC colour map, flat, written independently of mmcpal."""
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


def save_palette_png(path, mask):
    img = Image.fromarray(mask.astype(np.uint8))
    img.putpalette(palette())
    img.save(path)


def save_jpeg(path, size_hw, seed=0):
    h, w = size_hw
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
        path, quality=90)


def class_mask(size_hw, names, seed):
    """A random mask holding background and the given classes."""
    h, w = size_hw
    rng = np.random.default_rng(seed)
    values = np.array([0] + [VOC_NAMES.index(n) + 1 for n in names])
    mask = values[rng.integers(0, len(values), (h, w))]
    mask[0, 0] = 0
    for k, v in enumerate(values[1:]):
        mask[1 + k, 1] = v  # every class surely present
    return mask.astype(np.uint8)


def voc_xml(img_id, size_hw, names):
    h, w = size_hw
    objects = ''.join(f'<object><name>{n}</name><difficult>{k % 2}'
                      '</difficult><bndbox><xmin>1</xmin><ymin>1</ymin>'
                      '<xmax>2</xmax><ymax>2</ymax></bndbox></object>'
                      for k, n in enumerate(names))
    return (f'<annotation><folder>VOC2012</folder><filename>{img_id}.jpg'
            f'</filename><size><width>{w}</width><height>{h}</height>'
            f'<depth>3</depth></size><segmented>1</segmented>{objects}'
            '</annotation>')


def save_sbd_mat(path, seg, key='GTcls'):
    """An SBD-style .mat: struct with Segmentation, Boundaries (20x1 cell
    of sparse matrices) and CategoriesPresent."""
    from scipy.io import savemat
    from scipy.sparse import csc_matrix
    boundaries = np.empty((20, 1), dtype=object)
    for k in range(20):
        boundaries[k, 0] = csc_matrix(seg == k + 1, dtype=np.float64)
    cats = np.unique(seg[(seg > 0) & (seg < 255)]).astype(np.uint8)
    savemat(path, {
        key:
        dict(Segmentation=seg.astype(np.uint8), Boundaries=boundaries,
             CategoriesPresent=cats.reshape(-1, 1))
    })


def write_lines(path, ids):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.writelines(f'{i}\n' for i in ids)


def make_voc(root):
    """``<root>/VOCdevkit/VOC2012`` with images, XML, masks and lists."""
    voc = osp.join(root, 'VOCdevkit', 'VOC2012')
    for sub in ('JPEGImages', 'Annotations', 'SegmentationClass',
                'ImageSets/Segmentation'):
        os.makedirs(osp.join(voc, sub), exist_ok=True)
    masks = {}
    for k, img_id in enumerate(ALL_IDS):
        save_jpeg(osp.join(voc, 'JPEGImages', img_id + '.jpg'), SIZES[img_id],
                  k)
        with open(osp.join(voc, 'Annotations', img_id + '.xml'), 'w') as f:
            f.write(voc_xml(img_id, SIZES[img_id], XML_NAMES[img_id]))
    for k, img_id in enumerate(VOC_TRAIN + VOC_VAL):
        mask = class_mask(SIZES[img_id], MASK_CLASSES[img_id], 100 + k)
        mask[-1, :] = 255  # void border
        masks[img_id] = mask
        save_palette_png(
            osp.join(voc, 'SegmentationClass', img_id + '.png'), mask)
    write_lines(osp.join(voc, 'ImageSets/Segmentation/train.txt'), VOC_TRAIN)
    write_lines(osp.join(voc, 'ImageSets/Segmentation/val.txt'), VOC_VAL)
    write_lines(
        osp.join(voc, 'ImageSets/Segmentation/trainval.txt'),
        VOC_TRAIN + VOC_VAL)
    return voc, masks


def make_sbd(root, voc_jpeg_dir):
    """``<root>/benchmark_RELEASE/dataset`` with cls, inst, img, lists."""
    bench = osp.join(root, 'benchmark_RELEASE')
    data = osp.join(bench, 'dataset')
    for sub in ('cls', 'inst', 'img'):
        os.makedirs(osp.join(data, sub), exist_ok=True)
    masks = {}
    for k, img_id in enumerate(SBD_TRAIN + SBD_VAL):
        seg = class_mask(SIZES[img_id], MASK_CLASSES[img_id], 200 + k)
        masks[img_id] = seg
        save_sbd_mat(osp.join(data, 'cls', img_id + '.mat'), seg)
        # Instance files have GTinst, never read by the preparer.
        save_sbd_mat(osp.join(data, 'inst', img_id + '.mat'), seg, 'GTinst')
        with open(osp.join(voc_jpeg_dir, img_id + '.jpg'), 'rb') as src, \
                open(osp.join(data, 'img', img_id + '.jpg'), 'wb') as dst:
            dst.write(src.read())
    write_lines(osp.join(data, 'train.txt'), SBD_TRAIN)
    write_lines(osp.join(data, 'val.txt'), SBD_VAL)
    return bench, masks


def make_tar(src, arcname, path, mode):
    with tarfile.open(path, mode) as tar:
        tar.add(src, arcname=arcname)
    return path


@pytest.fixture
def voc_inputs(tmp_path):
    """VOC and SBD as folders and as the official archive formats."""
    pytest.importorskip('scipy')
    src = tmp_path / 'src'
    voc, voc_masks = make_voc(str(src))
    sbd, sbd_masks = make_sbd(str(src), osp.join(voc, 'JPEGImages'))
    return SimpleNamespace(
        tmp=tmp_path,
        voc=voc,
        voc_devkit=osp.dirname(voc),
        sbd=sbd,
        voc_masks=voc_masks,
        sbd_masks=sbd_masks,
        voc_tar=lambda: make_tar(
            osp.dirname(voc), 'VOCdevkit',
            str(tmp_path / 'VOCtrainval_11-May-2012.tar'), 'w'),
        sbd_tgz=lambda: make_tar(sbd, 'benchmark_RELEASE',
                                 str(tmp_path / 'benchmark.tgz'), 'w:gz'))


# --------------------------------------------------------------------- COCO
# Category ids of COCO 2014 and their names (spaces as in the json).
COCO_CATEGORIES = [
    (1, 'person'), (2, 'bicycle'), (3, 'car'), (4, 'motorcycle'),
    (5, 'airplane'), (6, 'bus'), (7, 'train'), (8, 'truck'), (9, 'boat'),
    (10, 'traffic light'), (11, 'fire hydrant'), (13, 'stop sign'),
    (14, 'parking meter'), (15, 'bench'), (16, 'bird'), (17, 'cat'),
    (18, 'dog'), (19, 'horse'), (20, 'sheep'), (21, 'cow'), (22, 'elephant'),
    (23, 'bear'), (24, 'zebra'), (25, 'giraffe'), (27, 'backpack'),
    (28, 'umbrella'), (31, 'handbag'), (32, 'tie'), (33, 'suitcase'),
    (34, 'frisbee'), (35, 'skis'), (36, 'snowboard'), (37, 'sports ball'),
    (38, 'kite'), (39, 'baseball bat'), (40, 'baseball glove'),
    (41, 'skateboard'), (42, 'surfboard'), (43, 'tennis racket'),
    (44, 'bottle'), (46, 'wine glass'), (47, 'cup'), (48, 'fork'),
    (49, 'knife'), (50, 'spoon'), (51, 'bowl'), (52, 'banana'), (53, 'apple'),
    (54, 'sandwich'), (55, 'orange'), (56, 'broccoli'), (57, 'carrot'),
    (58, 'hot dog'), (59, 'pizza'), (60, 'donut'), (61, 'cake'),
    (62, 'chair'), (63, 'couch'), (64, 'potted plant'), (65, 'bed'),
    (67, 'dining table'), (70, 'toilet'), (72, 'tv'), (73, 'laptop'),
    (74, 'mouse'), (75, 'remote'), (76, 'keyboard'), (77, 'cell phone'),
    (78, 'microwave'), (79, 'oven'), (80, 'toaster'), (81, 'sink'),
    (82, 'refrigerator'), (84, 'book'), (85, 'clock'), (86, 'vase'),
    (87, 'scissors'), (88, 'teddy bear'), (89, 'hair drier'),
    (90, 'toothbrush')
]
# Mask values of some categories, by hand (ascending id order, 1-based).
PERSON, CAR, TRAFFIC_LIGHT, STOP_SIGN, BIRD, CAT, DOG, TOOTHBRUSH = (1, 3, 10,
                                                                     12, 15,
                                                                     16, 17,
                                                                     80)


def rle_uncompressed(binary):
    """COCO uncompressed RLE of a bool mask, by hand: column-major runs,
    starting with the number of zeros."""
    flat = np.asarray(binary, dtype=bool).T.ravel()
    counts, current, run = [], False, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return dict(size=list(binary.shape), counts=counts)


def box(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def coco_data():
    """Two instances files: polygons, RLE, compressed RLE, crowd, overlaps,
    an equal-area tie, a degenerate polygon and an image without objects.

    Returns:
        tuple: (dict split -> json dict, dict image stem -> list of
        (annotation, bool mask or None for polygons)).
    """
    from pycocotools import mask as api
    cats = [dict(id=i, name=n, supercategory='x') for i, n in COCO_CATEGORIES]
    a_h, a_w, b_h, b_w = 20, 30, 16, 12
    dog = box(a_h, a_w, 5, 10, 8, 14)
    car = box(a_h, a_w, 10, 20, 15, 30)
    cat = box(a_h, a_w, 1, 4, 22, 26)
    bird = box(a_h, a_w, 2, 5, 24, 28)  # same area as cat, overlapping
    stop = box(b_h, b_w, 3, 9, 2, 7)
    stop_rle = api.encode(np.asfortranarray(stop.astype(np.uint8)))
    stop_rle['counts'] = stop_rle['counts'].decode('ascii')
    person_val = box(10, 12, 2, 8, 3, 9)
    anns = {
        'COCO_train2014_000000000001': [
            (dict(id=101, image_id=1, category_id=1, iscrowd=0, area=234.0,
                  segmentation=[[2, 2, 20, 2, 20, 15, 2, 15]]), None),
            (dict(id=102, image_id=1, category_id=18, iscrowd=0, area=30.0,
                  segmentation=rle_uncompressed(dog)), dog),
            (dict(id=103, image_id=1, category_id=3, iscrowd=1, area=150.0,
                  segmentation=rle_uncompressed(car)), car),
            (dict(id=104, image_id=1, category_id=17, iscrowd=0, area=12.0,
                  segmentation=rle_uncompressed(cat)), cat),
            (dict(id=105, image_id=1, category_id=16, iscrowd=0, area=12.0,
                  segmentation=rle_uncompressed(bird)), bird),
        ],
        'COCO_train2014_000000000002': [
            (dict(id=201, image_id=2, category_id=13, iscrowd=0, area=30.0,
                  segmentation=stop_rle), stop),
            (dict(id=202, image_id=2, category_id=90, iscrowd=0, area=10.0,
                  segmentation=[[8, 10, 11, 10, 11, 15], [1, 1, 2, 2]]),
             None),
        ],
        'COCO_train2014_000000000003': [],
        'COCO_val2014_000000000004': [
            (dict(id=401, image_id=4, category_id=10, iscrowd=0, area=20.0,
                  segmentation=[[1, 1, 6, 1, 6, 5, 1, 5]]), None),
        ],
        'COCO_val2014_000000000005': [
            (dict(id=501, image_id=5, category_id=1, iscrowd=1, area=36.0,
                  segmentation=rle_uncompressed(person_val)), person_val),
        ],
    }
    sizes = {
        'COCO_train2014_000000000001': (a_h, a_w),
        'COCO_train2014_000000000002': (b_h, b_w),
        'COCO_train2014_000000000003': (8, 8),
        'COCO_val2014_000000000004': (10, 10),
        'COCO_val2014_000000000005': (10, 12),
    }
    data = {}
    for split in ('train2014', 'val2014'):
        stems = [s for s in sizes if f'_{split}_' in s]
        data[split] = dict(
            info={}, licenses=[], categories=cats,
            images=[dict(id=int(s[-12:]), file_name=s + '.jpg',
                         height=sizes[s][0], width=sizes[s][1])
                    for s in reversed(stems)],  # json order != sorted order
            annotations=[a for s in stems for a, _ in anns[s]])
    return data, anns, sizes


def polygon_mask(segmentation, h, w):
    """Rasterise valid polygons with pycocotools (the oracle's only use of
    it)."""
    from pycocotools import mask as api
    polys = [p for p in segmentation if len(p) >= 6]
    return api.decode(api.merge(api.frPyObjects(polys, h, w))).astype(bool)


def oracle_mask(anns, h, w, crowd):
    """Semantic mask by a per-pixel loop: the covering object with the
    smallest (area, id) wins; crowd='ignore' makes crowd pixels 255 unless a
    non-crowd object covers them."""
    values = {i: v for v, (i, _) in enumerate(COCO_CATEGORIES, start=1)}
    objs = []
    for ann, binary in anns:
        if binary is None:
            binary = polygon_mask(ann['segmentation'], h, w)
        objs.append((ann, binary))
    out = np.zeros((h, w), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            cover = [a for a, b in objs if b[y, x]]
            if crowd == 'ignore':
                solid = [a for a in cover if not a['iscrowd']]
                if solid:
                    best = min(solid, key=lambda a: (a['area'], a['id']))
                    out[y, x] = values[best['category_id']]
                elif cover:
                    out[y, x] = 255
            elif cover:
                best = min(cover, key=lambda a: (a['area'], a['id']))
                out[y, x] = values[best['category_id']]
    return out


@pytest.fixture
def coco_inputs(tmp_path):
    """instances_{train,val}2014.json and JPEGs under tmp_path/coco."""
    pytest.importorskip('pycocotools')
    data, anns, sizes = coco_data()
    ann_dir = tmp_path / 'coco' / 'annotations'
    ann_dir.mkdir(parents=True)
    for split, content in data.items():
        (ann_dir / f'instances_{split}.json').write_text(json.dumps(content))
        (tmp_path / 'coco' / split).mkdir()
    for k, (stem, size) in enumerate(sizes.items()):
        split = stem.split('_')[1]
        save_jpeg(str(tmp_path / 'coco' / split / (stem + '.jpg')), size, k)
    return SimpleNamespace(
        tmp=tmp_path,
        ann_dir=str(ann_dir),
        img_root=str(tmp_path / 'coco'),
        data=data,
        anns=anns,
        sizes=sizes,
        expected=dict(train2014=3, val2014=2))


@pytest.fixture(scope='session')
def prep():
    """The constants and helpers above (conftest modules cannot be
    imported by name under --import-mode=importlib)."""
    names = ('ALL_IDS', 'EXPECTED_SMALL', 'MASK_CLASSES', 'SBD_TRAIN',
             'SBD_VAL', 'SIZES', 'TRAIN_AUG', 'VOC_NAMES', 'VOC_TRAIN',
             'VOC_VAL', 'XML_NAMES', 'palette', 'save_sbd_mat',
             'save_palette_png', 'save_jpeg', 'oracle_mask', 'PERSON', 'CAR',
             'TRAFFIC_LIGHT', 'STOP_SIGN', 'BIRD', 'CAT', 'DOG', 'TOOTHBRUSH',
             'COCO_CATEGORIES', 'rle_uncompressed', 'box')
    return SimpleNamespace(**{n: globals()[n] for n in names})
