"""Device paths of the pseudo-mask code found by benchmarks/gpu_check.py.

Each bug only shows on a non-CPU device; the CPU tests reproduce it with a
stand-in (a tensor numpy() refuses, as it refuses CUDA tensors; a model on
the ``meta`` device), the CUDA tests run the real thing where available.
"""
import pytest
import torch
import torch.nn as nn
from mmengine.model import ImgDataPreprocessor

from mmcpal.pseudo.multiscale import multiscale_cam_batch, multiscale_cam_loop
from mmcpal.pseudo.random_walk import (refine_cams_with_boundary,
                                       scores_to_mask)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA')


class _TinyCAM(nn.Module):

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.num_classes = num_classes
        self.data_preprocessor = ImgDataPreprocessor(
            mean=[120.0] * 3, std=[60.0] * 3)
        self.conv = nn.Conv2d(3, num_classes, 3, stride=2, padding=1)
        self.eval()

    def forward_cam(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.conv(inputs)


def test_scores_to_mask_keeps_tensor_keys_as_tensors(monkeypatch):
    """Keys as a tensor must not go through numpy (CUDA keys cannot)."""
    scores = torch.tensor([[[0.9, 0.1]], [[0.2, 0.8]]])
    keys = torch.tensor([3, 7])

    def refuse(self, *args, **kwargs):
        raise TypeError("can't convert cuda:0 device type tensor to numpy")

    monkeypatch.setattr(torch.Tensor, 'numpy', refuse)
    mask = scores_to_mask(scores, keys, bg_thres=0.25)
    assert mask.tolist() == [[3, 7]]


def test_scores_to_mask_still_takes_numpy_keys():
    import numpy as np
    scores = torch.tensor([[[0.9, 0.1]], [[0.2, 0.1]]])
    assert scores_to_mask(scores, np.array([2, 5])).tolist() == [[2, 0]]


def test_batch_k0_result_is_on_the_model_device():
    """An image without labels gets empty CAMs on the model's device, as
    the images with labels (and the loop) do."""
    model = _TinyCAM().to('meta')
    img = torch.zeros(3, 8, 10, dtype=torch.uint8)
    out = multiscale_cam_batch(model, [img], [torch.zeros(4)])[0]
    assert out.cams.shape == (0, 8, 10)
    assert out.cams.device.type == 'meta'
    assert out.keys.device.type == 'meta'


@cuda
def test_cuda_walk_with_cuda_keys():
    cams = torch.rand(2, 30, 40, device='cuda')
    boundary = torch.rand(8, 10, device='cuda')
    keys = torch.tensor([1, 4], device='cuda')
    out = refine_cams_with_boundary(cams, boundary, keys, exp_times=2)
    assert out.mask.device.type == 'cuda'
    assert set(out.mask.unique().tolist()) <= {0, 1, 4}


@cuda
def test_cuda_batch_equals_loop():
    model = _TinyCAM().cuda()
    gen = torch.Generator().manual_seed(0)
    imgs = [torch.randint(0, 256, (3, 21, 30), generator=gen,
                          dtype=torch.uint8).cuda() for _ in range(2)]
    labels = [torch.tensor([1., 0, 1, 0]), torch.zeros(4)]
    batched = multiscale_cam_batch(model, imgs, labels)
    for img, label, b in zip(imgs, labels, batched):
        loop = multiscale_cam_loop(model, img, label)
        assert b.cams.device.type == 'cuda'
        assert b.cams.shape == loop.cams.shape
        torch.testing.assert_close(b.cams, loop.cams, atol=1e-4, rtol=1e-4)
