"""IR label maps of a batch, taken to the logit grid."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor


def nearest_indices(in_size: int, out_size: int,
                    device: Optional[torch.device] = None) -> Tensor:
    """Source indices of a nearest-neighbour resize, Pillow style.

    Pillow's ``NEAREST`` resize samples source pixel
    ``floor((i + 0.5) * in_size / out_size)`` for output pixel ``i`` (the
    centre of the output cell). AMN resizes its IR labels to the logit grid
    this way (``resize_labels`` in ``step/train_amn.py``, whose docstring
    warns that other nearest methods misalign the labels); ``F.interpolate``'s
    ``'nearest'`` takes ``floor(i * in / out)`` (the cell's corner) instead.

    Args:
        in_size (int): Source length.
        out_size (int): Target length.
        device (torch.device, optional): Device of the result.

    Returns:
        Tensor: ``(out_size,)`` int64 indices in ``[0, in_size)``.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f'nearest_indices: sizes must be >= 1, got in_size='
                         f'{in_size}, out_size={out_size}')
    i = torch.arange(out_size, dtype=torch.float64, device=device)
    idx = torch.floor((i + 0.5) * (in_size / out_size)).long()
    return idx.clamp_(0, in_size - 1)


def resize_labels_nearest(labels: Tensor, size: Tuple[int, int]) -> Tensor:
    """Nearest-neighbour resize of label maps (Pillow's sampling).

    Args:
        labels (Tensor): ``(B, H, W)`` integer labels.
        size (tuple[int, int]): Target ``(h, w)``.

    Returns:
        Tensor: ``(B, h, w)`` labels of the same dtype.
    """
    if labels.dim() != 3:
        raise ValueError('resize_labels_nearest: `labels` must be (B, H, W), '
                         f'got shape {tuple(labels.shape)}')
    rows = nearest_indices(labels.shape[1], size[0], labels.device)
    cols = nearest_indices(labels.shape[2], size[1], labels.device)
    return labels[:, rows][:, :, cols]


def stack_ir_labels(seg_maps: Sequence[Optional[Tensor]],
                    input_hw: Tuple[int, int],
                    valid_maps: Optional[Sequence[Optional[Tensor]]] = None,
                    ignore_index: int = 255) -> Tensor:
    """Put per-image IR label maps on one batch canvas.

    Args:
        seg_maps (Sequence[Tensor | None]): One ``(1, H_i, W_i)`` or
            ``(H_i, W_i)`` map per image (the ``gt_sem_seg`` data). None is
            not allowed (the error names the image).
        input_hw (tuple[int, int]): ``(H, W)`` of the batch inputs; maps are
            cut to it, the rest (batch padding) is ``ignore_index``.
        valid_maps (Sequence[Tensor | None], optional): Per image a mask of
            real pixels of the map's shape (``(1, H_i, W_i)`` or
            ``(H_i, W_i)``, e.g. the crop's ``valid_mask``); other pixels
            become ``ignore_index``. Defaults to None (all real).
        ignore_index (int): Unsure label. Defaults to 255.

    Returns:
        Tensor: ``(B, H, W)`` int64 labels.
    """
    height, width = input_hw
    if valid_maps is not None and len(valid_maps) != len(seg_maps):
        raise ValueError(f'stack_ir_labels: got {len(seg_maps)} label maps '
                         f'but {len(valid_maps)} valid masks')
    out = torch.full((len(seg_maps), height, width),
                     ignore_index,
                     dtype=torch.long)
    for i, seg in enumerate(seg_maps):
        if seg is None:
            raise ValueError(
                f'AMN.loss: data sample {i} has no gt_sem_seg; AMN trains on '
                "IR labels: add dict(type='LoadIRLabel', ir_label_dir=...) "
                'to the training pipeline')
        seg = (seg[0] if seg.dim() == 3 else seg).long().cpu()
        valid = None if valid_maps is None else valid_maps[i]
        if valid is not None:
            valid = (valid[0] if valid.dim() == 3 else valid).cpu()
            if valid.shape != seg.shape:
                raise ValueError(
                    f'stack_ir_labels: valid mask {i} has shape '
                    f'{tuple(valid.shape)} but its label map '
                    f'{tuple(seg.shape)}')
            seg = seg.masked_fill(~valid.bool(), ignore_index)
        seg = seg[:height, :width]
        out[i, :seg.shape[0], :seg.shape[1]] = seg
    return out


def pad_valid_masks(valid_maps: Sequence[Optional[Tensor]],
                    input_hw: Tuple[int, int]) -> Tensor:
    """Per-image valid masks on one batch canvas (padding = not valid).

    Args:
        valid_maps (Sequence[Tensor | None]): ``(1, H_i, W_i)`` or
            ``(H_i, W_i)`` masks; None means the whole image is real.
        input_hw (tuple[int, int]): ``(H, W)`` of the batch inputs.

    Returns:
        Tensor: ``(B, 1, H, W)`` float mask of 0 and 1.
    """
    height, width = input_hw
    out = torch.zeros(len(valid_maps), 1, height, width)
    for i, valid in enumerate(valid_maps):
        if valid is None:
            out[i] = 1.0
            continue
        valid = (valid[0] if valid.dim() == 3 else valid)[:height, :width]
        out[i, 0, :valid.shape[0], :valid.shape[1]] = valid.float().cpu()
    return out
