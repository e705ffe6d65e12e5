"""Support bank: one FIFO queue of instance prototypes per class.

CPAL (Tang et al., CVPR 2024, Sec. 3.2) keeps the last ``L`` instance
prototypes of every class in a memory and clusters it into context
prototypes. The bank is held in module buffers so that checkpoints and
``--resume`` carry it (see ``docs/cpal-method.md`` Sec. 3).
"""
import torch
import torch.nn as nn
from torch import Tensor

from mmcpal.registry import MODELS


@MODELS.register_module()
class SupportBank(nn.Module):
    """A first-in-first-out queue of embeddings per class, held in buffers.

    Note:
        The bank stores what it is given: detach the entries before
        enqueueing them (the bank itself detaches too, so it never holds a
        graph). Under distributed training every rank must enqueue the same
        entries in the same order so the banks stay identical; the CPAL branch
        all-gathers before it enqueues.

    Args:
        num_classes (int): Number of (foreground) classes ``C``; one queue
            each.
        capacity (int): Entries per class ``L`` [paper: 1000]. When a queue
            is full the oldest entry is overwritten.
        embed_dims (int): Length ``E`` of each entry.

    Buffers (all persistent):
        bank (Tensor): ``(C, L, E)`` float storage; slots beyond
            ``bank_count[c]`` are zero.
        bank_ptr (Tensor): ``(C,)`` long, the slot the next entry of each
            class is written to.
        bank_count (Tensor): ``(C,)`` long, number of filled slots (at most
            ``L``).
    """

    def __init__(self, *, num_classes: int, capacity: int,
                 embed_dims: int) -> None:
        super().__init__()
        for name, value in (('num_classes', num_classes),
                            ('capacity', capacity), ('embed_dims',
                                                     embed_dims)):
            if not isinstance(value, int) or isinstance(value, bool) \
                    or value < 1:
                raise ValueError(f'SupportBank: `{name}` must be a positive '
                                 f'int, but got {value!r}')
        self.num_classes = num_classes
        self.capacity = capacity
        self.embed_dims = embed_dims
        self.register_buffer('bank',
                             torch.zeros(num_classes, capacity, embed_dims))
        self.register_buffer('bank_ptr',
                             torch.zeros(num_classes, dtype=torch.long))
        self.register_buffer('bank_count',
                             torch.zeros(num_classes, dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, entries: Tensor, classes: Tensor) -> None:
        """Append entries to the queues of their classes, oldest first.

        Entries of one class are written in the order they appear in
        ``entries``; when more than ``L`` arrive at once only the last ``L``
        are kept (as if they had been enqueued one by one).

        Args:
            entries (Tensor): ``(N, E)`` embeddings.
            classes (Tensor): ``(N,)`` integer class indices in ``[0, C)``
                (foreground index, i.e. mask value minus one).
        """
        if entries.dim() != 2 or entries.shape[1] != self.embed_dims:
            raise ValueError(
                'SupportBank.enqueue: `entries` must have shape (N, '
                f'{self.embed_dims}), but got {tuple(entries.shape)}')
        if classes.dim() != 1 or classes.shape[0] != entries.shape[0]:
            raise ValueError(
                'SupportBank.enqueue: `classes` must have shape (N,) with '
                f'N={entries.shape[0]}, but got {tuple(classes.shape)}')
        if classes.numel() == 0:
            return
        classes = classes.long()
        if classes.min() < 0 or classes.max() >= self.num_classes:
            raise ValueError('SupportBank.enqueue: `classes` must lie in [0, '
                             f'{self.num_classes}), but got values in '
                             f'[{int(classes.min())}, {int(classes.max())}]')
        entries = entries.detach().to(self.bank)
        cap = self.capacity
        for c in torch.unique(classes).tolist():
            x = entries[classes == c]
            n = x.shape[0]
            if n > cap:
                # Only the newest L survive; the pointer still advances by
                # n, exactly as n single enqueues would move it.
                start = int(self.bank_ptr[c]) + n - cap
                x = x[-cap:]
            else:
                start = int(self.bank_ptr[c])
            slots = (start +
                     torch.arange(x.shape[0], device=self.bank.device)) % cap
            self.bank[c, slots] = x
            self.bank_ptr[c] = (self.bank_ptr[c] + n) % cap
            self.bank_count[c] = min(int(self.bank_count[c]) + n, cap)

    def entries(self, c: int) -> Tensor:
        """The filled entries of class ``c``, oldest first.

        Args:
            c (int): Foreground class index in ``[0, C)``.

        Returns:
            Tensor: ``(bank_count[c], E)`` (a view or copy of the storage).
        """
        if not 0 <= c < self.num_classes:
            raise ValueError('SupportBank.entries: class index must lie in '
                             f'[0, {self.num_classes}), but got {c}')
        count = int(self.bank_count[c])
        if count < self.capacity:
            return self.bank[c, :count]
        ptr = int(self.bank_ptr[c])
        return torch.cat([self.bank[c, ptr:], self.bank[c, :ptr]], dim=0)

    def is_empty(self) -> bool:
        """Whether no class holds any entry."""
        return bool((self.bank_count == 0).all())

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, capacity={self.capacity}, '
                f'embed_dims={self.embed_dims}')
