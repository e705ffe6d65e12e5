"""CAM grid pictures: size, content of the first tile, labels."""
import os.path as osp

import cv2
import numpy as np
import pytest

from mmcpal.pseudo.cam_io import save_cams
from mmcpal.visualization import (LABEL_HEIGHT, colorize_labels, make_cam_row,
                                  overlay_cam, vis_cam_dir, voc_palette)

GAP_TILE, GAP_ROW = 4, 6  # white gaps between tiles / rows


def test_voc_palette_known_colours():
    palette = voc_palette()
    assert palette[0].tolist() == [0, 0, 0]
    assert palette[1].tolist() == [128, 0, 0]
    assert palette[15].tolist() == [192, 128, 128]  # person
    assert palette[255].tolist() == [224, 224, 192]  # void
    bgr = colorize_labels(np.array([[1, 255]]))
    assert bgr[0, 0].tolist() == [0, 0, 128]


def test_overlay_is_a_jet_blend():
    image = np.full((2, 2, 3), 100, np.uint8)
    cam = np.array([[0.0, 1.0], [0.5, 2.0]])
    out = overlay_cam(image, cam, weight=0.5)
    jet = cv2.applyColorMap(np.array([[0, 255], [128, 255]], np.uint8),
                            cv2.COLORMAP_JET)
    expected = np.round(0.5 * image + 0.5 * jet.astype(float))
    assert np.abs(out.astype(float) - expected).max() <= 1
    with pytest.raises(ValueError, match='differs from CAM size'):
        overlay_cam(image, np.zeros((3, 2)))


def _image(h, w, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_row_layout_and_first_tile():
    h, w = 40, 30
    image = _image(h, w, 0)
    cams = np.zeros((2, h, w))
    cams[0, :20], cams[1, 20:] = 0.9, 0.4
    gt = np.zeros((h, w), int)
    names = ['background', 'cat', 'dog']
    row = make_cam_row(image,
                       cams,
                       np.array([1, 2]),
                       names,
                       gt=gt,
                       threshold=0.5,
                       tile_height=h)
    tiles = 1 + 2 + 1 + 1  # image, 2 CAMs, seed, GT
    assert row.shape == (h + LABEL_HEIGHT, tiles * w + (tiles - 1) * GAP_TILE,
                         3)
    np.testing.assert_array_equal(row[LABEL_HEIGHT:, :w], image)
    # Seed tile (4th): dog's 0.4 < 0.5 -> background there, cat on top.
    x0 = 3 * (w + GAP_TILE)
    seed = row[LABEL_HEIGHT:, x0:x0 + w]
    assert seed[5, 5].tolist() == [0, 0, 128]  # class 1 colour (BGR)
    assert seed[30, 5].tolist() == [0, 0, 0]
    # The caption strips (dark, 32) hold light text pixels.
    assert row[:LABEL_HEIGHT, :w].max() > 128
    assert row[:LABEL_HEIGHT, :w].min() == 32


def test_vis_cam_dir_grid(tmp_path):
    img_dir, cam_dir, gt_dir = (tmp_path / d for d in ('img', 'cam', 'gt'))
    for d in (img_dir, cam_dir, gt_dir):
        d.mkdir()
    sizes = {'a': (32, 48), 'b': (32, 20)}
    images = {}
    for i, (img_id, (h, w)) in enumerate(sizes.items()):
        images[img_id] = _image(h, w, i)
        cv2.imwrite(str(img_dir / f'{img_id}.png'), images[img_id])
        cv2.imwrite(str(gt_dir / f'{img_id}.png'), np.zeros((h, w), np.uint8))
        save_cams(str(cam_dir / f'{img_id}.npz'), np.full((1, h, w), 0.5),
                  np.array([3]))
    paths = vis_cam_dir(str(cam_dir),
                        str(img_dir), ['a', 'b', 'missing'],
                        str(tmp_path / 'out'),
                        gt_dir=str(gt_dir),
                        tile_height=32,
                        rows_per_png=2,
                        img_suffix='.png')
    assert paths == [osp.join(str(tmp_path / 'out'), 'cam_grid_000.png')]
    grid = cv2.imread(paths[0], cv2.IMREAD_COLOR)
    # Row width: 4 tiles (image, CAM, seed, GT) of the widest image (48).
    assert grid.shape == (2 * (32 + LABEL_HEIGHT) + GAP_ROW,
                          4 * 48 + 3 * GAP_TILE, 3)
    np.testing.assert_array_equal(grid[LABEL_HEIGHT:32 + LABEL_HEIGHT, :48],
                                  images['a'])
    top_b = 32 + LABEL_HEIGHT + GAP_ROW + LABEL_HEIGHT
    np.testing.assert_array_equal(grid[top_b:top_b + 32, :20], images['b'])
    # Row b is narrower: padded with white on the right.
    assert (grid[top_b:, 4 * 20 + 3 * GAP_TILE:] == 255).all()


def test_vis_cam_dir_resizes_to_tile_height(tmp_path):
    (tmp_path / 'img').mkdir()
    (tmp_path / 'cam').mkdir()
    cv2.imwrite(str(tmp_path / 'img' / 'a.jpg'), _image(64, 96, 0))
    save_cams(str(tmp_path / 'cam' / 'a.npz'), np.full((2, 64, 96), 0.25),
              np.array([1, 2]))
    paths = vis_cam_dir(str(tmp_path / 'cam'),
                        str(tmp_path / 'img'), ['a'],
                        str(tmp_path / 'out'),
                        tile_height=32,
                        threshold=None)
    grid = cv2.imread(paths[0])
    # image + 2 CAMs, each 48 wide at height 32, no seed tile.
    assert grid.shape == (32 + LABEL_HEIGHT, 3 * 48 + 2 * GAP_TILE, 3)
    with pytest.raises(FileNotFoundError, match='a.png'):
        vis_cam_dir(str(tmp_path / 'cam'),
                    str(tmp_path / 'img'), ['a'],
                    str(tmp_path / 'out'),
                    img_suffix='.png')
