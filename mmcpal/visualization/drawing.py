"""Drawing helpers for CAM grids (pure functions on uint8 BGR arrays)."""
from typing import List, Sequence, Tuple

import cv2
import numpy as np

LABEL_HEIGHT = 20
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def voc_palette(num: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map (bit-interleaved, as the VOC devkit).

    Args:
        num (int): Number of entries. Defaults to 256 (255 -> (224, 224,
            192), the VOC void colour).

    Returns:
        np.ndarray: (num, 3) uint8 RGB colours.
    """
    palette = np.zeros((num, 3), np.uint8)
    for index in range(num):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        palette[index] = (r, g, b)
    return palette


def colorize_labels(labels: np.ndarray) -> np.ndarray:
    """Label map (0..C, 255) -> BGR image with the VOC palette.

    Args:
        labels (np.ndarray): (H, W) integer labels in 0..255.

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f'labels must be (H, W), got {labels.shape}')
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError('labels must lie in 0..255, got range '
                         f'[{labels.min()}, {labels.max()}]')
    rgb = voc_palette()[labels.astype(np.int64)]
    return np.ascontiguousarray(rgb[..., ::-1])


def overlay_cam(image: np.ndarray,
                cam: np.ndarray,
                weight: float = 0.5) -> np.ndarray:
    """Blend a jet-coloured CAM onto an image.

    Args:
        image (np.ndarray): (H, W, 3) uint8 BGR.
        cam (np.ndarray): (H, W) float map in [0, 1] (clipped).
        weight (float): Weight of the CAM colours. Defaults to 0.5.

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f'weight must be in [0, 1], got {weight}')
    if image.shape[:2] != cam.shape:
        raise ValueError(f'image size {image.shape[:2]} differs from CAM '
                         f'size {cam.shape}')
    heat = np.clip(np.nan_to_num(cam), 0.0, 1.0)
    heat = cv2.applyColorMap((heat * 255).round().astype(np.uint8),
                             cv2.COLORMAP_JET)
    return cv2.addWeighted(image, 1.0 - weight, heat, weight, 0.0)


def resize_to_height(tile: np.ndarray,
                     height: int,
                     nearest: bool = False) -> np.ndarray:
    """Resize keeping the aspect ratio (no-op at the same height)."""
    h, w = tile.shape[:2]
    if h == height:
        return tile
    width = max(1, int(round(w * height / h)))
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(tile, (width, height), interpolation=interp)


def label_tile(tile: np.ndarray, text: str) -> np.ndarray:
    """Put a dark caption strip of ``LABEL_HEIGHT`` pixels above a tile.

    The tile pixels are kept as they are (the strip is added, not drawn
    over the picture).

    Args:
        tile (np.ndarray): (H, W, 3) uint8 BGR.
        text (str): Caption; shrunk to fit the tile width.

    Returns:
        np.ndarray: (H + LABEL_HEIGHT, W, 3) uint8 BGR.
    """
    strip = np.full((LABEL_HEIGHT, tile.shape[1], 3), 32, np.uint8)
    scale = 0.45
    (tw, _), _ = cv2.getTextSize(text, _FONT, scale, 1)
    while tw > tile.shape[1] - 4 and scale > 0.25:
        scale -= 0.05
        (tw, _), _ = cv2.getTextSize(text, _FONT, scale, 1)
    cv2.putText(strip, text, (2, LABEL_HEIGHT - 6), _FONT, scale,
                (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([strip, tile], axis=0)


def hstack_tiles(tiles: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Tiles of equal height side by side with white gaps."""
    heights = {t.shape[0] for t in tiles}
    if len(heights) != 1:
        raise ValueError(f'tiles must share one height, got {heights}')
    height = heights.pop()
    spacer = np.full((height, gap, 3), 255, np.uint8)
    parts: List[np.ndarray] = []
    for i, tile in enumerate(tiles):
        if i:
            parts.append(spacer)
        parts.append(tile)
    return np.concatenate(parts, axis=1)


def vstack_rows(rows: Sequence[np.ndarray],
                gap: int = 6) -> Tuple[np.ndarray, List[int]]:
    """Rows stacked top to bottom, right-padded with white to one width.

    Args:
        rows (Sequence[np.ndarray]): (h_i, w_i, 3) uint8 rows.
        gap (int): White pixels between rows. Defaults to 6.

    Returns:
        tuple[np.ndarray, list[int]]: The grid and the top offset of each
        row.
    """
    if not rows:
        raise ValueError('no rows to stack')
    width = max(r.shape[1] for r in rows)
    parts, offsets, top = [], [], 0
    for i, row in enumerate(rows):
        if i:
            parts.append(np.full((gap, width, 3), 255, np.uint8))
            top += gap
        pad = width - row.shape[1]
        if pad:
            row = np.concatenate(
                [row, np.full((row.shape[0], pad, 3), 255, np.uint8)], axis=1)
        parts.append(row)
        offsets.append(top)
        top += row.shape[0]
    return np.concatenate(parts, axis=0), offsets
