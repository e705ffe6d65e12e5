"""IR labels to the logit grid (Pillow nearest), batch canvas, AMN's CAM
normalisation."""
import numpy as np
import pytest
import torch
from PIL import Image

from mmcpal.models.amn.cam_norm import amn_minmax_normalise
from mmcpal.models.amn.grid_labels import (nearest_indices, pad_valid_masks,
                                           resize_labels_nearest,
                                           stack_ir_labels)


@pytest.mark.parametrize('src,dst', [((37, 23), (9, 5)), ((32, 32), (2, 2)),
                                     ((7, 6), (20, 13)), ((160, 160), (9, 9))])
def test_nearest_matches_pillow(src, dst):
    """AMN resizes with PIL's NEAREST (step/train_amn.py resize_labels)."""
    rng = np.random.RandomState(0)
    arr = rng.randint(0, 256, src).astype(np.int32)
    ref = np.asarray(
        Image.fromarray(arr).resize((dst[1], dst[0]), resample=Image.NEAREST))
    out = resize_labels_nearest(torch.from_numpy(arr)[None], dst)[0]
    np.testing.assert_array_equal(out.numpy(), ref)


def test_nearest_indices_centre_sampling():
    # 16 -> 2: cell centres 4 and 12 (F.interpolate would take 0 and 8)
    assert nearest_indices(16, 2).tolist() == [4, 12]
    with pytest.raises(ValueError, match='sizes must be >= 1'):
        nearest_indices(0, 2)


def test_stack_ir_labels_pads_and_masks():
    a = torch.tensor([[[1, 2, 3], [4, 5, 6]]])
    b = torch.tensor([[7, 7], [7, 7]])
    valid_a = torch.tensor([[[True, False, True], [True, True, True]]])
    out = stack_ir_labels([a, b], (3, 3), valid_maps=[valid_a, None])
    assert out.tolist() == [[[1, 255, 3], [4, 5, 6], [255, 255, 255]],
                            [[7, 7, 255], [7, 7, 255], [255, 255, 255]]]
    with pytest.raises(ValueError, match='data sample 1 has no gt_sem_seg'):
        stack_ir_labels([a, None], (3, 3))
    with pytest.raises(ValueError, match='valid mask 0 has shape'):
        stack_ir_labels([a], (3, 3), valid_maps=[valid_a[:, :1]])


def test_pad_valid_masks():
    out = pad_valid_masks([torch.ones(1, 1, 2, dtype=torch.bool), None],
                          (2, 3))
    assert out[:, 0].tolist() == [[[1, 1, 0], [0, 0, 0]],
                                  [[1, 1, 1], [1, 1, 1]]]


def test_amn_minmax_normalise_keeps_ir_background():
    cams = torch.tensor([[[0.2, 0.4], [0.6, 1.0]]])
    bg = torch.tensor([[True, False], [False, False]])
    out = amn_minmax_normalise(cams, bg)
    # (x - 0.2) / (0.8 + 1e-5) off the background, raw 0.2 on it
    d = 0.8 + 1e-5
    expected = torch.tensor([[[0.2, 0.2 / d], [0.4 / d, 0.8 / d]]])
    assert torch.allclose(out, expected, atol=1e-6)
    with pytest.raises(ValueError, match='bg_mask'):
        amn_minmax_normalise(cams, bg[:1])
