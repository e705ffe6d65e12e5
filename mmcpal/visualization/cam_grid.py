"""CAM grids a person can look at: one row per image.

Row layout (left to right): the image, one jet overlay per CAM class, the
seed at a threshold, the mask of an optional mask folder, and the ground
truth; every tile has a caption strip above it.
"""
import os
import os.path as osp
from typing import List, Optional, Sequence

import cv2
import numpy as np

from mmcpal.evaluation.label_io import default_class_names, read_label_png
from mmcpal.evaluation.seeds import cams_to_seed
from mmcpal.pseudo.cam_io import cam_path, load_cams
from .drawing import (colorize_labels, hstack_tiles, label_tile, overlay_cam,
                      resize_to_height, vstack_rows)


def make_cam_row(image: np.ndarray,
                 cams: np.ndarray,
                 keys: np.ndarray,
                 class_names: Sequence[str],
                 *,
                 threshold: Optional[float] = 0.05,
                 mask: Optional[np.ndarray] = None,
                 gt: Optional[np.ndarray] = None,
                 tile_height: int = 160,
                 title: str = 'image') -> np.ndarray:
    """One grid row for one image.

    Args:
        image (np.ndarray): (H, W, 3) uint8 BGR image.
        cams (np.ndarray): (K, H, W) maps in [0, 1].
        keys (np.ndarray): (K,) mask values 1..C of the maps.
        class_names (Sequence[str]): C + 1 names, background first.
        threshold (float, optional): Background score of the seed tile;
            None leaves the seed out. Defaults to 0.05.
        mask (np.ndarray, optional): (H, W) label mask to show. Defaults to
            None.
        gt (np.ndarray, optional): (H, W) ground truth to show. Defaults to
            None.
        tile_height (int): Height of every tile (without caption). Defaults
            to 160.
        title (str): Caption of the image tile. Defaults to ``'image'``.

    Returns:
        np.ndarray: (tile_height + caption, W_row, 3) uint8 BGR row.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError('image must be (H, W, 3) uint8 BGR, got '
                         f'{image.shape} {image.dtype}')
    size = image.shape[:2]
    if cams.shape[1:] != size:
        raise ValueError(f'CAM size {cams.shape[1:]} differs from image size '
                         f'{size}')
    for what, labels in (('mask', mask), ('gt', gt)):
        if labels is not None and labels.shape != size:
            raise ValueError(f'{what} size {labels.shape} differs from image '
                             f'size {size}')

    def tile(picture: np.ndarray, text: str, nearest: bool) -> np.ndarray:
        return label_tile(resize_to_height(picture, tile_height, nearest),
                          text)

    tiles = [tile(image, title, False)]
    for cam, key in zip(cams, keys):
        name = class_names[int(key)] if int(key) < len(class_names) else key
        tiles.append(tile(overlay_cam(image, cam), f'CAM {name}', False))
    if threshold is not None:
        seed = cams_to_seed(cams, keys, threshold=threshold)
        tiles.append(tile(colorize_labels(seed), f'seed t={threshold:g}',
                          True))
    if mask is not None:
        tiles.append(tile(colorize_labels(mask), 'mask', True))
    if gt is not None:
        tiles.append(tile(colorize_labels(gt), 'GT', True))
    return hstack_tiles(tiles)


def make_cam_grid(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Stack rows into one grid (right-padded with white)."""
    grid, _ = vstack_rows(rows)
    return grid


def _read_image(path: str) -> np.ndarray:
    if not osp.isfile(path):
        raise FileNotFoundError(f'image {path!r} does not exist')
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'image {path!r} cannot be decoded')
    return image


def vis_cam_dir(cam_dir: str,
                img_dir: str,
                ids: Sequence[str],
                out_dir: str,
                *,
                num_classes: int = 20,
                gt_dir: Optional[str] = None,
                mask_dir: Optional[str] = None,
                threshold: Optional[float] = 0.05,
                class_names: Optional[Sequence[str]] = None,
                tile_height: int = 160,
                rows_per_png: int = 6,
                img_suffix: str = '.jpg',
                cam_type: str = 'cam') -> List[str]:
    """Write PNG grids of CAMs, seeds, masks and GT for a list of images.

    Args:
        cam_dir (str): Folder of ``<id>.npz`` CAM files.
        img_dir (str): Folder of ``<id><img_suffix>`` images.
        ids (Sequence[str]): Image ids, one row each; ids without a CAM file
            are skipped with a printed note.
        out_dir (str): Output folder (created); files ``cam_grid_000.png``...
        num_classes (int): C, for default class names. Defaults to 20.
        gt_dir (str, optional): Ground-truth PNG folder. Defaults to None.
        mask_dir (str, optional): Mask PNG folder (e.g. pseudo masks).
            Defaults to None.
        threshold (float, optional): Seed background score; None: no seed.
            Defaults to 0.05.
        class_names (Sequence[str], optional): C or C + 1 names. Defaults to
            VOC names when C = 20.
        tile_height (int): Tile height in pixels. Defaults to 160.
        rows_per_png (int): Images per output PNG. Defaults to 6.
        img_suffix (str): Image file suffix. Defaults to ``'.jpg'``.
        cam_type (str): Map of the CAM files to draw: ``'cam'``,
            ``'pacam'`` or ``'fused'``. Defaults to ``'cam'``.

    Returns:
        list[str]: Paths of the written PNGs.
    """
    if rows_per_png < 1 or tile_height < 8:
        raise ValueError('rows_per_png must be >= 1 and tile_height >= 8, '
                         f'got {rows_per_png} and {tile_height}')
    names = default_class_names(num_classes, class_names)
    os.makedirs(out_dir, exist_ok=True)
    rows: List[np.ndarray] = []
    written: List[str] = []

    def flush() -> None:
        path = osp.join(out_dir, f'cam_grid_{len(written):03d}.png')
        if not cv2.imwrite(path, make_cam_grid(rows)):
            raise OSError(f'could not write {path!r}')
        written.append(path)
        rows.clear()

    for img_id in ids:
        path = cam_path(cam_dir, img_id)
        if not osp.isfile(path):
            print(f'vis_cam_dir: no CAM file for {img_id!r}, skipped')
            continue
        cams, keys = load_cams(path, cam_type)
        image = _read_image(osp.join(img_dir, img_id + img_suffix))
        gt = (read_label_png(osp.join(gt_dir, img_id +
                                      '.png')) if gt_dir else None)
        mask = (read_label_png(osp.join(mask_dir, img_id +
                                        '.png')) if mask_dir else None)
        rows.append(
            make_cam_row(image,
                         cams,
                         keys,
                         names,
                         threshold=threshold,
                         mask=mask,
                         gt=gt,
                         tile_height=tile_height,
                         title=img_id))
        if len(rows) == rows_per_png:
            flush()
    if rows:
        flush()
    return written
