"""Tests of mmcpal.models.cpal.support_bank against a list-based FIFO."""
import pytest
import torch

from mmcpal.models.cpal.support_bank import SupportBank


class ListBank:
    """Reference: one Python list per class, append then drop the oldest."""

    def __init__(self, num_classes, capacity):
        self.queues = [[] for _ in range(num_classes)]
        self.capacity = capacity

    def enqueue(self, entries, classes):
        for x, c in zip(entries, classes.tolist()):
            self.queues[c].append(x.clone())
            if len(self.queues[c]) > self.capacity:
                self.queues[c].pop(0)


def _check_equal(bank, ref):
    for c, queue in enumerate(ref.queues):
        assert int(bank.bank_count[c]) == len(queue)
        got = bank.entries(c)
        assert got.shape == (len(queue), bank.embed_dims)
        if queue:
            assert torch.equal(got, torch.stack(queue))


def test_fifo_and_wrap_around_match_list_reference():
    torch.manual_seed(0)
    bank = SupportBank(num_classes=3, capacity=16, embed_dims=8)
    ref = ListBank(3, 16)
    # Batches of varying size, including one larger than the capacity for a
    # single class (class 2 receives 20 entries at once).
    sizes = [5, 0, 11, 7, 3, 9, 1]
    for step, n in enumerate(sizes):
        x = torch.randn(n, 8)
        classes = torch.randint(0, 2, (n, ))
        bank.enqueue(x, classes)
        ref.enqueue(x, classes)
        _check_equal(bank, ref)
    big = torch.randn(20, 8)
    big_classes = torch.full((20, ), 2)
    bank.enqueue(big, big_classes)
    ref.enqueue(big, big_classes)
    _check_equal(bank, ref)
    assert torch.equal(bank.entries(2), big[-16:])
    # pointer of the overfull class advanced by 20 modulo 16
    assert int(bank.bank_ptr[2]) == 20 % 16
    # class 0 and 1 received 36 entries in total: both wrapped around
    assert int(bank.bank_count.sum()) == 16 * 3


def test_counts_and_pointer_before_full():
    bank = SupportBank(num_classes=3, capacity=16, embed_dims=8)
    assert bank.is_empty()
    x = torch.arange(5 * 8, dtype=torch.float32).view(5, 8)
    bank.enqueue(x, torch.tensor([0, 1, 0, 0, 2]))
    assert bank.bank_count.tolist() == [3, 1, 1]
    assert bank.bank_ptr.tolist() == [3, 1, 1]
    assert torch.equal(bank.entries(0), x[[0, 2, 3]])
    assert torch.equal(bank.bank[0, 3:], torch.zeros(13, 8))
    assert not bank.is_empty()


def test_enqueue_detaches():
    bank = SupportBank(num_classes=3, capacity=16, embed_dims=8)
    x = torch.randn(2, 8, requires_grad=True)
    bank.enqueue(x * 2, torch.tensor([1, 1]))
    assert not bank.bank.requires_grad
    assert torch.equal(bank.entries(1), (x * 2).detach())


def test_state_dict_round_trip():
    torch.manual_seed(1)
    bank = SupportBank(num_classes=3, capacity=16, embed_dims=8)
    bank.enqueue(torch.randn(40, 8), torch.randint(0, 3, (40, )))
    state = bank.state_dict()
    assert set(state) == {'bank', 'bank_ptr', 'bank_count'}
    other = SupportBank(num_classes=3, capacity=16, embed_dims=8)
    other.load_state_dict(state)
    for key in state:
        assert torch.equal(other.state_dict()[key], state[key])
    for c in range(3):
        assert torch.equal(other.entries(c), bank.entries(c))
    # both continue identically
    x, cls = torch.randn(7, 8), torch.randint(0, 3, (7, ))
    bank.enqueue(x, cls)
    other.enqueue(x, cls)
    for c in range(3):
        assert torch.equal(other.entries(c), bank.entries(c))


def test_bad_input_errors():
    with pytest.raises(ValueError, match='`capacity` must be a positive int'):
        SupportBank(num_classes=3, capacity=0, embed_dims=8)
    bank = SupportBank(num_classes=3, capacity=16, embed_dims=8)
    with pytest.raises(ValueError, match=r'shape \(N, 8\)'):
        bank.enqueue(torch.randn(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r'must lie in \[0, 3\)'):
        bank.enqueue(torch.randn(2, 8), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match='class index'):
        bank.entries(5)
