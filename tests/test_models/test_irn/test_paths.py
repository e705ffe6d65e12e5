"""IRN path construction: directions, path cells, path affinities."""
import pytest
import torch

from mmcpal.models.irn.paths import (half_directions, path_affinity,
                                     path_cells, shift_labels, walk_offsets)


def _reference_cells(p, q):
    """Cells of the segment p -> q (bounding box, distance to line < 1)."""
    (py, px), (qy, qx) = p, q
    dy, dx = qy - py, qx - px
    cells = set()
    for y in range(min(py, qy), max(py, qy) + 1):
        for x in range(min(px, qx), max(px, qx) + 1):
            # squared distance of (y, x) to the line through p and q
            cross = dy * (x - px) - dx * (y - py)
            if cross * cross / float(dy * dy + dx * dx) < 1.0:
                cells.add((y, x))
    return cells


def test_half_directions_cover_each_pair_once():
    for radius in (2, 3, 5, 10):
        half = half_directions(radius)
        disk = {(y, x)
                for y in range(-radius, radius + 1)
                for x in range(-radius, radius + 1)
                if 0 < y * y + x * x < radius * radius}
        assert len(set(half)) == len(half)
        assert set(half) | {(-y, -x) for y, x in half} == disk
        assert not set(half) & {(-y, -x) for y, x in half}
    # IRN's numbers and order (PathIndex.get_all_dir_paths).
    assert len(half_directions(5)) == 34
    assert len(half_directions(10)) == 152
    assert half_directions(5)[:6] == ((0, 1), (0, 2), (0, 3), (0, 4), (1, -4),
                                      (1, -3))
    assert half_directions(2) == ((0, 1), (1, -1), (1, 0), (1, 1))
    offsets = walk_offsets(5)
    assert len(offsets) == 69 and offsets[0] == (0, 0)


def test_bad_radius():
    with pytest.raises(ValueError, match='radius must be an int >= 2'):
        half_directions(1)
    with pytest.raises(ValueError, match='must not be'):
        path_cells((0, 0))


def test_path_cells_by_hand():
    assert set(path_cells((0, 3))) == {(0, 0), (0, 1), (0, 2), (0, 3)}
    # |x - 2y| < sqrt(5): the whole 2x3 box.
    assert set(path_cells((1, 2))) == {(y, x)
                                       for y in (0, 1)
                                       for x in (0, 1, 2)}
    # |2x + 3y| < sqrt(13) in the box y 0..2, x -3..0.
    assert set(path_cells((2, -3))) == {(0, 0), (0, -1), (1, 0), (1, -1),
                                        (1, -2), (1, -3), (2, -2), (2, -3)}
    assert path_cells((2, -3))[0] == (2, -3)  # far end first, as IRN
    for d in half_directions(6):
        cells = set(path_cells(d))
        assert (0, 0) in cells and d in cells
        assert cells == {(d[0] - y, d[1] - x) for y, x in cells}
        assert cells == _reference_cells((0, 0), d)


def test_path_affinity_by_hand():
    edge = torch.tensor([[[0.1, 0.2, 0.5, 0.3, 0.9, 0.4]]])
    aff = path_affinity(edge, [(0, 1), (0, 2), (0, -1), (1, 0), (0, 0)])
    expected = torch.tensor([
        [0.8, 0.5, 0.5, 0.1, 0.1, 0.0],  # right neighbour; last leaves
        [0.5, 0.5, 0.1, 0.1, 0.0, 0.0],
        [0.0, 0.8, 0.5, 0.5, 0.1, 0.1],
        [0.0] * 6,  # no row below
        [1.0] * 6,
    ])
    torch.testing.assert_close(aff[0, :, 0], expected)


def test_path_affinity_matches_loop_reference():
    torch.manual_seed(0)
    h, w, radius = 6, 7, 4
    edge = torch.rand(2, h, w, dtype=torch.float64)
    dirs = walk_offsets(radius)
    aff = path_affinity(edge, dirs)
    assert aff.shape == (2, len(dirs), h, w)
    for n in range(2):
        for k, (dy, dx) in enumerate(dirs):
            for y in range(h):
                for x in range(w):
                    qy, qx = y + dy, x + dx
                    if not (0 <= qy < h and 0 <= qx < w):
                        want = 0.0
                    elif (dy, dx) == (0, 0):
                        want = 1.0
                    else:
                        cells = _reference_cells((y, x), (qy, qx))
                        want = 1 - max(edge[n, cy, cx].item()
                                       for cy, cx in cells)
                    assert aff[n, k, y, x].item() == pytest.approx(want)


def test_path_affinity_gradient_reaches_path_max_only():
    edge = torch.tensor([[[0.1, 0.2, 0.5, 0.3]]], requires_grad=True)
    aff = path_affinity(edge, [(0, 2)])
    aff[0, 0, 0, 0].backward()  # pair (0, 2): max at x = 2
    assert edge.grad.tolist() == [[[0.0, 0.0, -1.0, 0.0]]]


def test_shift_labels():
    labels = torch.arange(12).view(1, 3, 4)
    out = shift_labels(labels, (1, -1), fill_value=99)
    assert out[0].tolist() == [[99, 4, 5, 6], [99, 8, 9, 10], [99, 99, 99, 99]]
    assert (shift_labels(labels, (3, 0), 7) == 7).all()
