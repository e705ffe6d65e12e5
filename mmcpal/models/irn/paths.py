"""Pixel-pair directions, their paths, and path affinities (IRN).

IRN (Ahn et al., CVPR 2019) relates two pixels ``p`` and ``q = p + d`` of the
feature grid when ``|d| < radius`` and scores the pair from the class-boundary
map ``B`` along the straight path between them:

    a(p, q) = 1 - max_{c in path(d)} B(p + c)

(``misc/indexing.py::edge_to_affinity`` in jiwoon-ahn/irn, a max-pool over the
path cells). This module rebuilds IRN's ``PathIndex.get_all_dir_paths``:

* :func:`half_directions`: each unordered pair once, the ``(0, x)`` for
  ``0 < x < radius`` and the ``(y, x)`` with ``0 < y < radius`` and
  ``x^2 + y^2 < radius^2``, in IRN's order;
* :func:`path_cells`: the cells of the bounding box of ``0`` and ``d`` whose
  squared distance to the line through ``0`` and ``d`` is below 1 (both ends
  included), sorted by ``-(|y| + |x|)`` as IRN does (the order does not
  matter for the max);
* :func:`path_affinity`: the affinities of all pairs of a set of directions as
  a dense-by-direction tensor ``(N, D, h, w)``: entry ``[n, k, y, x]`` is the
  pair ``((y, x), (y, x) + d_k)``. Pairs whose far end lies outside the grid
  get affinity 0 (IRN pads the boundary map with 1.0,
  ``indexing.propagate_to_edge``).

Instead of IRN's precomputed flat index arrays for one fixed crop size
(``PathIndex.get_path_indices``), every path cell is a shifted slice of the
padded boundary map, so any grid size works without rebuilding indices.
"""
from functools import lru_cache
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

Offset = Tuple[int, int]


def _check_radius(radius: int) -> int:
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 2:
        raise ValueError(f'radius must be an int >= 2 (pairs with '
                         f'|d| < radius), got {radius!r}')
    return radius


@lru_cache(maxsize=None)
def half_directions(radius: int) -> Tuple[Offset, ...]:
    """One direction per unordered pixel pair within ``radius`` (IRN order).

    Args:
        radius (int): Pairs with ``dy^2 + dx^2 < radius^2``; IRN trains with
            10 (``step/train_irn.py``) and walks with 5
            (``step/make_sem_seg_labels.py``).

    Returns:
        tuple[tuple[int, int]]: ``(dy, dx)`` with ``dy > 0``, or ``dy == 0``
        and ``dx > 0``. 34 directions for radius 5, 152 for radius 10.
    """
    _check_radius(radius)
    dirs = [(0, x) for x in range(1, radius)]
    for y in range(1, radius):
        for x in range(-radius + 1, radius):
            if x * x + y * y < radius * radius:
                dirs.append((y, x))
    return tuple(dirs)


@lru_cache(maxsize=None)
def path_cells(direction: Offset) -> Tuple[Offset, ...]:
    """Cells of the straight path from ``(0, 0)`` to ``direction``.

    Args:
        direction (tuple[int, int]): ``(dy, dx)``, not ``(0, 0)``.

    Returns:
        tuple[tuple[int, int]]: Offsets ``(y, x)`` in the bounding box of
        ``(0, 0)`` and ``direction`` with ``(dy x - dx y)^2 / |d|^2 < 1``,
        far end first (IRN ``get_all_dir_paths``).
    """
    dy, dx = direction
    length_sq = dy * dy + dx * dx
    if length_sq == 0:
        raise ValueError('path_cells: direction must not be (0, 0)')
    cells = []
    for y in range(min(0, dy), max(0, dy) + 1):
        for x in range(min(0, dx), max(0, dx) + 1):
            if (dy * x - dx * y)**2 < length_sq:  # distance^2 < 1
                cells.append((y, x))
    cells.sort(key=lambda c: -abs(c[0]) - abs(c[1]))
    return tuple(cells)


def walk_offsets(radius: int) -> Tuple[Offset, ...]:
    """All neighbour offsets of a random-walk step: self, then both halves.

    Args:
        radius (int): Neighbourhood radius (``|d| < radius``).

    Returns:
        tuple[tuple[int, int]]: ``(0, 0)``, the :func:`half_directions`,
        then their negatives (69 offsets for radius 5).
    """
    half = half_directions(radius)
    return ((0, 0), ) + half + tuple((-y, -x) for y, x in half)


def path_affinity(boundary: Tensor,
                  directions: Sequence[Offset],
                  pad_value: float = 1.0) -> Tensor:
    """``1 - max`` of the boundary map along each pair's path.

    Args:
        boundary (Tensor): (N, h, w) boundary probabilities in [0, 1].
        directions (Sequence[tuple[int, int]]): ``D`` offsets ``(dy, dx)``;
            ``(0, 0)`` gives the constant affinity 1 (a pixel with itself).
        pad_value (float): Boundary value outside the grid; 1.0 makes pairs
            leaving the grid have affinity 0 (IRN). Defaults to 1.0.

    Returns:
        Tensor: (N, D, h, w); ``[n, k, y, x]`` is the affinity of
        ``(y, x)`` and ``(y, x) + directions[k]``. Differentiable in
        ``boundary``.
    """
    if boundary.dim() != 3:
        raise ValueError('path_affinity: boundary must be (N, h, w), got '
                         f'shape {tuple(boundary.shape)}')
    if len(directions) == 0:
        raise ValueError('path_affinity: directions is empty')
    n, h, w = boundary.shape
    pad = max(max(abs(y), abs(x)) for y, x in directions)
    padded = F.pad(boundary, (pad, pad, pad, pad), value=pad_value)
    out: List[Tensor] = []
    for direction in directions:
        if tuple(direction) == (0, 0):
            out.append(boundary.new_ones(n, h, w))
            continue
        path_max = None
        for cy, cx in path_cells(tuple(direction)):
            cell = padded[:, pad + cy:pad + cy + h, pad + cx:pad + cx + w]
            path_max = cell if path_max is None else torch.maximum(
                path_max, cell)
        out.append(1.0 - path_max)
    return torch.stack(out, dim=1)


def shift_labels(labels: Tensor, direction: Offset, fill_value: int) -> Tensor:
    """``labels`` seen from ``direction``: ``out[y, x] = labels[(y, x) + d]``.

    Args:
        labels (Tensor): (N, h, w) integer maps.
        direction (tuple[int, int]): ``(dy, dx)``.
        fill_value (int): Value where ``(y, x) + d`` leaves the grid.

    Returns:
        Tensor: (N, h, w), same dtype.
    """
    dy, dx = direction
    n, h, w = labels.shape
    out = labels.new_full((n, h, w), fill_value)
    ys, yd = slice(max(0, dy),
                   h + min(0, dy)), slice(max(0, -dy), h - max(0, dy))
    xs, xd = slice(max(0, dx),
                   w + min(0, dx)), slice(max(0, -dx), w - max(0, dx))
    if h - abs(dy) > 0 and w - abs(dx) > 0:
        out[:, yd, xd] = labels[:, ys, xs]
    return out
