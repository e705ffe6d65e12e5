"""Tests of mmcpal.models.cpal.projection_head."""
import pytest
import torch

from mmcpal.models.cpal.projection_head import ProjectionHead


def test_projection_head_equals_per_pixel_mlp():
    torch.manual_seed(0)
    head = ProjectionHead(in_channels=5, embed_dims=8, mid_channels=6)
    x = torch.randn(2, 5, 3, 4)
    out = head(x)
    assert out.shape == (2, 8, 3, 4)
    # independent per-pixel reference: Linear -> ReLU -> Linear
    w1 = head.conv1.weight.view(6, 5)
    w2 = head.conv2.weight.view(8, 6)
    pix = x.permute(0, 2, 3, 1).reshape(-1, 5)
    ref = torch.relu(pix @ w1.T + head.conv1.bias) @ w2.T + head.conv2.bias
    ref = ref.view(2, 3, 4, 8).permute(0, 3, 1, 2)
    torch.testing.assert_close(out, ref)


def test_projection_head_defaults_and_errors():
    head = ProjectionHead(in_channels=4)
    assert head.embed_dims == 128 and head.mid_channels == 128
    with pytest.raises(ValueError, match=r'shape \(B, 4, h, w\)'):
        head(torch.randn(1, 3, 2, 2))
    with pytest.raises(ValueError, match='`embed_dims` must be a positive'):
        ProjectionHead(in_channels=4, embed_dims=0)
