"""Values of the CPAL functional core (docs/cpal-method.md §1-9).

Each function is checked against numbers computed by hand on tiny grids and
against the loop references of this folder's ``conftest.py`` on random
inputs (absent classes, empty masks, padding, every option).
"""
import math

import pytest
import torch

from mmcpal.models.cpal.functional import (alignment_shift, alignment_shifts,
                                           batched_spherical_kmeans,
                                           cam_from_logits,
                                           instance_prototypes, l1_normalise,
                                           pacam, positiveness,
                                           select_neighbours,
                                           self_supervised_loss,
                                           spherical_kmeans)

D = torch.float64
R2 = 1 / math.sqrt(2)


def t(values, dtype=D):
    return torch.tensor(values, dtype=dtype)


def close(a, b, tol=1e-9):
    b = b if isinstance(b, torch.Tensor) else t(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    torch.testing.assert_close(a.to(D), b.to(D), atol=tol, rtol=0)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def random_valid(g, b, h, w):
    """Padding on the right/bottom of image 0; image 1 fully valid."""
    valid = torch.ones(b, 1, h, w, dtype=D)
    valid[0, :, :, w - 1] = 0
    valid[0, :, h - 1, :] = 0
    return valid


# --------------------------------------------------------------------- CAM
class TestCamFromLogits:

    def test_hand(self):
        logits = t([[[[2., -1., 1.]], [[3., 1., 0.]]]])  # (1, 2, 1, 3)
        cam = cam_from_logits(logits, t([[1., 0.]]))
        fg = [2 / 2.00001, 0., 1 / 2.00001]
        close(cam, [[[[1 - fg[0], 1., 1 - fg[2]]], [fg], [[0., 0., 0.]]]])
        close(cam[0, :, 0, 0], [4.999975000125e-06, 0.999995000025, 0.])
        # Both classes present: background is 1 - the larger one.
        cam = cam_from_logits(logits, t([[1., 1.]]))
        fg2 = [3 / 3.00001, 1 / 3.00001, 0.]
        close(cam[0, 2, 0], fg2)
        close(cam[0, 0, 0], [1 - fg2[0], 1 - fg2[1], 1 - fg[2]])

    def test_hand_valid_and_alpha(self):
        logits = t([[[[1., -1., 4.]]]])
        valid = t([[[[1., 1., 0.]]]])
        cam = cam_from_logits(logits, t([[1.]]), valid)
        # The padded 4 sets neither the max nor the output.
        close(cam, [[[[1 - 1 / 1.00001, 1., 0.]], [[1 / 1.00001, 0., 0.]]]])
        cam = cam_from_logits(t([[[[1., 3., 0.]]]]), t([[1.]]), bg_alpha=2)
        fg = [1 / 3.00001, 3 / 3.00001, 0.]
        close(cam[0, 0, 0], [(1 - v)**2 for v in fg])

    @pytest.mark.parametrize('alpha', [1.0, 0.5, 2.0])
    def test_matches_loop(self, ref, alpha):
        g = gen(1)
        logits = torch.randn(2, 3, 3, 4, generator=g, dtype=D)
        logits[1, 2] = -1.0  # a present class with an all-zero CAM
        labels = t([[1., 0., 1.], [0., 1., 1.]])
        valid = random_valid(g, 2, 3, 4)
        out = cam_from_logits(logits, labels, valid, bg_alpha=alpha)
        close(out, ref.cam(logits, labels, valid, alpha))
        close(cam_from_logits(logits, labels, bg_alpha=alpha),
              ref.cam(logits, labels, None, alpha))

    def test_gradcheck(self):
        g = gen(2)
        logits = torch.randn(2, 2, 2, 3, generator=g, dtype=D)
        logits = (logits + 0.2 * logits.sign()).requires_grad_()
        labels = t([[1., 1.], [0., 1.]])
        valid = t([[[[1., 1., 1.], [1., 1., 0.]]], [[[1.] * 3] * 2]])
        for alpha in (1.0, 0.5):
            assert torch.autograd.gradcheck(
                lambda x: cam_from_logits(x, labels, valid, alpha),
                (logits, ))

    @pytest.mark.parametrize('alpha', [1.0, 0.5])
    def test_degenerate_backward(self, alpha):
        logits = torch.zeros(2, 3, 2, 2, requires_grad=True)
        valid = torch.ones(2, 1, 2, 2)
        valid[1] = 0  # a fully padded image
        cam = cam_from_logits(logits, torch.ones(2, 3), valid, alpha)
        assert torch.isfinite(cam).all()
        close(cam[0, 0], torch.ones(2, 2))
        cam.sum().backward()
        assert torch.isfinite(logits.grad).all()

    def test_errors(self):
        with pytest.raises(ValueError, match='`labels` must have shape'):
            cam_from_logits(torch.zeros(1, 2, 2, 2), torch.zeros(1, 3))
        with pytest.raises(ValueError, match='`valid` must have shape'):
            cam_from_logits(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2),
                            torch.ones(1, 1, 3, 2))
        with pytest.raises(ValueError, match='bg_alpha'):
            cam_from_logits(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2),
                            bg_alpha=0)


def test_l1_normalise(ref):
    cam = t([[[[1., 3.]], [[0., 0.]]]])
    close(l1_normalise(cam), [[[[1 / 4.00001, 3 / 4.00001]], [[0., 0.]]]])
    close(l1_normalise(cam, t([[[[1., 0.]]]])), [[[[1 / 1.00001, 0.]],
                                                 [[0., 0.]]]])
    g = gen(3)
    cam = torch.rand(2, 4, 3, 3, generator=g, dtype=D)
    valid = random_valid(g, 2, 3, 3)
    close(l1_normalise(cam, valid), ref.l1(cam, valid))


# --------------------------------------------------------------- prototypes
class TestInstancePrototypes:

    def test_hand(self):
        # pixels: (1, 4), (2, 5), (3, 6)
        embed = t([[[[1., 2., 3.]], [[4., 5., 6.]]]])
        cams = t([[[[0.5, 0.05, 0.2]], [[0.1, 0.1, 0.]], [[1., 1., 1.]]]])
        labels = t([[1., 1., 0.]])
        protos, present = instance_prototypes(embed, cams, labels)
        close(protos, [[[2., 5.], [0., 0.], [0., 0.]]])
        assert present.tolist() == [[True, False, False]]
        protos, present = instance_prototypes(
            embed, cams, labels, valid=t([[[[1., 1., 0.]]]]))
        close(protos[0, 0], [1., 4.])
        protos, present = instance_prototypes(embed, cams, labels, tau=0.05)
        close(protos[0, :2], [[2., 5.], [1.5, 4.5]])
        assert present.tolist() == [[True, True, False]]

    def test_matches_loop(self, ref):
        g = gen(4)
        embed = torch.randn(2, 5, 3, 4, generator=g, dtype=D)
        cams = torch.rand(2, 3, 3, 4, generator=g, dtype=D)
        cams[0, 1] = 0.05  # present class, empty reliable mask
        labels = t([[1., 1., 0.], [1., 0., 1.]])
        valid = random_valid(g, 2, 3, 4)
        for tau, v in ((0.1, valid), (0.6, None)):
            protos, present = instance_prototypes(embed, cams, labels, tau,
                                                  valid=v)
            want_p, want_present = ref.prototypes(embed, cams, labels, tau,
                                                  v)
            close(protos, want_p)
            assert torch.equal(present, want_present)
            assert not present[0, 1] and not present[0, 2]

    def test_empty_backward(self):
        embed = torch.randn(1, 3, 2, 2, requires_grad=True)
        protos, present = instance_prototypes(embed, torch.zeros(1, 2, 2, 2),
                                              torch.ones(1, 2))
        assert not present.any() and (protos == 0).all()
        protos.sum().backward()
        assert torch.isfinite(embed.grad).all()


# ------------------------------------------------------------------ k-means
def purity(assign, truth):
    """1.0 iff the clustering equals the ground truth up to relabelling."""
    pairs = set(zip(assign.tolist(), truth.tolist()))
    return float(len(pairs) == len(set(assign.tolist())) == len(
        set(truth.tolist())))


def separated(seed, per=12, e=4):
    g = gen(seed)
    dirs = t([[1., 0., 0., 0.], [0., 1., 0., 0.], [0., 0., R2, R2]])
    truth = torch.arange(3).repeat_interleave(per)
    noise = 0.05 * torch.randn(3 * per, e, generator=g, dtype=D)
    radius = 0.2 + 0.7 * torch.rand(3 * per, 1, generator=g, dtype=D)
    perm = torch.randperm(3 * per, generator=g)
    return (radius * (dirs[truth] + noise))[perm], truth[perm]


class TestSphericalKMeans:

    def test_hand(self):
        x = t([[2., 0.], [0., 3.], [1., 0.1], [0.1, 1.]])
        for seed in range(4):
            centres, assign = spherical_kmeans(x, 2, seed=seed)
            assert assign[0] == assign[2] and assign[1] == assign[3]
            assert assign[0] != assign[1]
            close(centres[assign[0]], [1.5, 0.05])
            close(centres[assign[1]], [0.05, 2.0])

    @pytest.mark.parametrize('seed', [0, 1, 7])
    def test_recovers_separated_clusters(self, seed):
        x, truth = separated(seed)
        centres, assign = spherical_kmeans(x, 3, seed=seed)
        assert purity(assign, truth) == 1.0
        # Centres are the raw means of their members (not unit vectors).
        for j in range(3):
            close(centres[j], x[assign == j].mean(0), 1e-12)
        assert (centres.norm(dim=1) < 0.95).all()

    def test_deterministic(self):
        x = torch.randn(60, 5, generator=gen(5))
        c1, a1 = spherical_kmeans(x, 6, seed=3)
        c2, a2 = spherical_kmeans(x.clone(), 6, seed=3)
        assert torch.equal(c1, c2) and torch.equal(a1, a2)

    def test_small_and_empty(self):
        x = t([[0.5, 0.], [0., 0.25], [0.3, 0.3]])
        for k in (3, 5):  # N <= k: the entries as they are
            centres, assign = spherical_kmeans(x, k)
            assert torch.equal(centres, x)
            assert assign.tolist() == [0, 1, 2]
        centres, assign = spherical_kmeans(x[:0], 4)
        assert centres.shape == (0, 2) and assign.shape == (0, )
        # k' = min(k, N) for N > k
        centres, assign = spherical_kmeans(torch.randn(9, 3), 4)
        assert centres.shape == (4, 3) and assign.max() == 3

    def test_duplicates_drop_empty_clusters(self, ref):
        rows = [[2., 0.]] * 5 + [[0., 1.], [1., 1.]]
        x = t(rows)
        centres, assign = spherical_kmeans(x, 4)
        assert centres.shape == (3, 2)  # only 3 distinct directions
        want_c, want_a, reseeded = ref.kmeans(rows, 4, 100, 0)
        assert reseeded
        close(centres, want_c)
        assert assign.tolist() == want_a
        close(centres[assign[0]], [2., 0.])

    @pytest.mark.parametrize('n,k,seed', [(30, 4, 0), (25, 8, 1), (12, 9, 2),
                                          (40, 6, 3), (10, 4, 11)])
    def test_matches_loop(self, ref, n, k, seed):
        x = torch.randn(n, 3, generator=gen(seed), dtype=D)
        centres, assign = spherical_kmeans(x, k, seed=seed)
        want_c, want_a, _ = ref.kmeans(x.tolist(), k, 100, seed)
        assert assign.tolist() == want_a
        close(centres, want_c, 1e-12)

    def test_empty_cluster_reseed_rule(self):
        # Random data practically never empties a cluster after k-means++
        # (none in 20k small random runs), so the documented rule is pinned
        # on the private update step: the m-th empty cluster takes the m-th
        # row least similar to its own centre.
        from mmcpal.models.cpal.functional import _update_centres
        xn = t([[[1., 0.], [0., 1.], [R2, R2], [-1., 0.]]])
        assign = torch.tensor([[0, 0, 1, 0]])
        ok = torch.ones(1, 4, dtype=torch.bool)
        sims = torch.zeros(1, 4, 4, dtype=D)
        sims[0, [0, 1, 2, 3], [0, 0, 1, 0]] = t([0.9, 0.2, 1.0, -0.5])
        centres = _update_centres(xn, ok, assign, sims[..., :3], 3)
        close(centres, [[[0., 1.], [R2, R2], [-1., 0.]]])
        centres = _update_centres(xn, ok, assign, sims, 4)
        close(centres, [[[0., 1.], [R2, R2], [-1., 0.], [0., 1.]]])

    def test_iteration_cap(self, ref):
        x = torch.randn(40, 3, generator=gen(9), dtype=D)
        for iters in (0, 1, 2):
            centres, assign = spherical_kmeans(x, 6, iters=iters, seed=4)
            want_c, want_a, _ = ref.kmeans(x.tolist(), 6, iters, 4)
            assert assign.tolist() == want_a
            close(centres, want_c, 1e-12)

    def test_batched_equals_unbatched(self):
        g = gen(6)
        counts = torch.tensor([0, 3, 5, 40, 17, 60])
        x = 50 * torch.randn(len(counts), 60, 4, generator=g)  # junk padding
        for i, n in enumerate(counts.tolist()):
            x[i, :n] = torch.randn(n, 4, generator=g) * torch.rand(
                n, 1, generator=g)
        centres, ccount, assign = batched_spherical_kmeans(
            x, counts, 5, seed=2, return_assign=True)
        c2, cc2 = batched_spherical_kmeans(x, counts, 5, seed=2)
        assert torch.equal(c2, centres) and torch.equal(cc2, ccount)
        assert centres.shape == (6, 5, 4)
        assert ccount.tolist() == [0, 3, 5, 5, 5, 5]
        for i, n in enumerate(counts.tolist()):
            c1, a1 = spherical_kmeans(x[i, :n], 5, seed=2)
            close(centres[i, :len(c1)], c1, 1e-6)
            assert (centres[i, len(c1):] == 0).all()
            assert assign[i, :n].tolist() == a1.tolist()
            assert (assign[i, n:] == -1).all()

    def test_errors(self):
        with pytest.raises(ValueError, match='`k` must be a positive int'):
            spherical_kmeans(torch.randn(5, 2), 0)
        with pytest.raises(ValueError, match=r'`counts` must lie in \[0, N'):
            batched_spherical_kmeans(torch.randn(2, 4, 3), torch.tensor([1,
                                                                         5]),
                                     2)
        with pytest.raises(ValueError, match='`x` must have shape'):
            spherical_kmeans(torch.randn(5), 2)


# ------------------------------------------------- neighbours, positiveness
def test_select_neighbours(ref):
    protos = t([[1., 0.], [0., 2.]])
    context = t([[1., 0.], [0., 1.], [1., 1.], [-1., 0.]])
    index, cos = select_neighbours(protos, context, 2)
    assert index.tolist() == [[0, 2], [1, 2]]
    close(cos, [[1., R2], [1., R2]])
    index, cos = select_neighbours(protos, context, 10)  # K > k
    assert index.tolist()[0] == [0, 2, 1, 3]
    close(cos[0], [1., R2, 0., -1.])
    g = gen(8)
    protos = torch.randn(6, 5, generator=g, dtype=D)
    context = torch.randn(9, 5, generator=g, dtype=D) * torch.rand(
        9, 1, generator=g, dtype=D)
    for K in (1, 4, 20):
        index, cos = select_neighbours(protos, context, K)
        want_i, want_c = ref.neighbours(protos, context, K)
        assert index.tolist() == want_i
        close(cos, want_c)


class TestPositiveness:
    P = t([[1., 0.]])
    NB = t([[[1., 0.], [0., 2.], [2., 2.]]])

    @staticmethod
    def softmax(*s):
        ex = [math.exp(v) for v in s]
        return [[v / sum(ex) for v in ex]]

    def test_hand(self):
        sm = self.softmax
        close(positiveness(self.P, self.NB), sm(1., 0., 2.))
        close(positiveness(self.P, self.NB, scale=2.0), sm(0.5, 0., 1.))
        close(positiveness(self.P, self.NB, 'cosine'), sm(1., 0., R2))
        close(positiveness(self.P, self.NB, 'l1'), sm(0., -3., -3.))
        close(positiveness(self.P, self.NB, 'l2'),
              sm(0., -math.sqrt(5), -math.sqrt(5)))
        close(positiveness(self.P, self.NB, 'uniform'), [[1 / 3] * 3])
        mask = torch.tensor([[True, False, True]])
        close(positiveness(self.P, self.NB, neighbour_mask=mask),
              [[math.exp(1) / (math.exp(1) + math.exp(2)), 0.,
                math.exp(2) / (math.exp(1) + math.exp(2))]])
        close(positiveness(self.P, self.NB,
                           neighbour_mask=torch.zeros(1, 3, dtype=bool)),
              [[0., 0., 0.]])

    @pytest.mark.parametrize('metric', ['dot', 'cosine', 'l1', 'l2',
                                        'uniform'])
    @pytest.mark.parametrize('scale', [1.0, 0.3])
    def test_matches_loop(self, ref, metric, scale):
        g = gen(9)
        protos = torch.randn(5, 4, generator=g, dtype=D)
        nbs = torch.randn(5, 3, 4, generator=g, dtype=D)
        close(positiveness(protos, nbs, metric, scale),
              ref.positiveness(protos, nbs, metric, scale))

    def test_unknown_metric(self):
        with pytest.raises(ValueError,
                           match="'cos'.*dot, cosine, l1, l2, uniform"):
            positiveness(self.P, self.NB, 'cos')

    def test_l2_identical_backward(self):
        p = torch.ones(2, 3, requires_grad=True)
        nb = torch.ones(2, 4, 3, requires_grad=True)
        positiveness(p, nb, 'l2')[:, 0].sum().backward()
        assert torch.isfinite(p.grad).all() and torch.isfinite(nb.grad).all()


def test_alignment_shift(ref):
    protos = t([[0., 0.], [2., 0.]])
    nbs = t([[[1., 1.], [3., 1.]], [[1., -1.], [3., -3.]]])
    close(alignment_shift(protos, nbs), [1., -0.5])
    close(alignment_shift(protos[:0], nbs[:0]), [0., 0.])
    g = gen(10)
    protos = torch.randn(4, 3, generator=g, dtype=D)
    nbs = torch.randn(4, 5, 3, generator=g, dtype=D)
    close(alignment_shift(protos, nbs), ref.shift(protos, nbs))
    # The batched form equals the per-class one.
    protos = torch.randn(3, 2, 4, generator=g, dtype=D)
    nbs = torch.randn(3, 2, 5, 4, generator=g, dtype=D)
    mask = torch.tensor([[True, False], [True, False], [False, False]])
    nb_mask = torch.ones(3, 2, 5, dtype=torch.bool)
    nb_mask[:, 0, 3:] = False
    shifts = alignment_shifts(protos, nbs, mask, nb_mask)
    close(shifts[0], alignment_shift(protos[:2, 0], nbs[:2, 0, :3]))
    close(shifts[1], [0.] * 4)
    close(alignment_shifts(protos, nbs, mask)[0],
          alignment_shift(protos[:2, 0], nbs[:2, 0]))


# -------------------------------------------------------------------- PACAM
class TestPacam:
    # pixels (1, 0), (0, 1), (1, 1); class 1 has two neighbours
    EMBED = t([[[[1., 0., 1.]], [[0., 1., 1.]]]])
    NB = t([[[[1., 0.], [0., 3.]], [[5., 5.], [5., 5.]]]])
    W = t([[[0.75, 0.25], [0.5, 0.5]]])
    LABELS = t([[1., 0.]])

    def test_hand(self):
        out = pacam(self.EMBED, self.NB, self.W, self.LABELS)
        fg = [0.75 / 0.75001, 0.25 / 0.75001, R2 / 0.75001]
        close(out, [[[[1 - v for v in fg]], [fg], [[0.] * 3]]])
        # shift (-1, 0): pixels become (0, 0), (-1, 1), (0, 1)
        shift = t([[-1., 0.], [9., 9.]])
        out = pacam(self.EMBED, self.NB, self.W, self.LABELS, shift)
        close(out[0, 1, 0], [0., 0.25 * R2 / 0.25001, 0.25 / 0.25001])
        # shift only on pixel 0: (0, 0), (0, 1), (1, 1)
        region = torch.zeros(1, 2, 1, 3, dtype=torch.bool)
        region[0, 0, 0, 0] = True
        out = pacam(self.EMBED, self.NB, self.W, self.LABELS, shift,
                    shift_region=region)
        close(out[0, 1, 0], [0., 0.25 / (R2 + 1e-5), R2 / (R2 + 1e-5)])
        # padding neither sets the max nor shows
        out = pacam(self.EMBED, self.NB, self.W, self.LABELS,
                    valid=t([[[[1., 0., 1.]]]]))
        close(out[0, :2, 0], [[1 - 0.75 / 0.75001, 0., 1 - R2 / 0.75001],
                              [0.75 / 0.75001, 0., R2 / 0.75001]])
        # a labelled class without neighbours (mask False) is 0
        out = pacam(self.EMBED, self.NB, self.W, self.LABELS,
                    mask=torch.tensor([[False, True]]))
        close(out, [[[[1.] * 3], [[0.] * 3], [[0.] * 3]]])

    @pytest.mark.parametrize('with_shift,with_valid,with_mask,with_region',
                             [(False, False, False, False),
                              (True, True, True, False),
                              (True, True, False, True),
                              (True, False, True, True)])
    def test_matches_loop(self, ref, with_shift, with_valid, with_mask,
                          with_region):
        g = gen(11)
        b, c, k, e, h, w = 2, 3, 4, 5, 3, 3
        embed = torch.randn(b, e, h, w, generator=g, dtype=D)
        embed[1, :, 0, 0] = 0  # a zero embedding
        nbs = torch.randn(b, c, k, e, generator=g, dtype=D)
        weights = torch.rand(b, c, k, generator=g, dtype=D)
        weights[0, 2, 3] = 0  # a padding neighbour
        labels = t([[1., 0., 1.], [1., 1., 0.]])
        shift = torch.randn(c, e, generator=g, dtype=D) if with_shift \
            else None
        valid = random_valid(g, b, h, w) if with_valid else None
        mask = torch.tensor([[True, True, True], [False, True, True]]) \
            if with_mask else None
        region = torch.rand(b, c, h, w, generator=g) > 0.5 if with_region \
            else None
        out = pacam(embed, nbs, weights, labels, shift, valid, mask=mask,
                    shift_region=region)
        close(out, ref.pacam(embed, nbs, weights, labels, shift, valid, mask,
                             region))

    def test_gradcheck(self):
        g = gen(12)
        embed = torch.randn(2, 3, 2, 3, generator=g, dtype=D)
        nbs = torch.randn(2, 2, 3, 3, generator=g, dtype=D)
        weights = torch.rand(2, 2, 3, generator=g, dtype=D)
        shift = 0.5 * torch.randn(2, 3, generator=g, dtype=D)
        labels = t([[1., 1.], [0., 1.]])
        valid = t([[[[1., 1., 1.], [1., 1., 0.]]], [[[1.] * 3] * 2]])
        inputs = [v.requires_grad_() for v in (embed, nbs, weights, shift)]
        assert torch.autograd.gradcheck(
            lambda z, n, wt, s: pacam(z, n, wt, labels, s, valid), inputs)

    def test_degenerate_backward(self):
        embed = torch.zeros(2, 4, 3, 3, requires_grad=True)
        nbs = torch.randn(2, 2, 3, 4, requires_grad=True)
        weights = torch.full((2, 2, 3), 1 / 3)
        valid = torch.ones(2, 1, 3, 3)
        valid[1] = 0
        out = pacam(embed, nbs, weights, torch.ones(2, 2), torch.zeros(2, 4),
                    valid)
        assert torch.isfinite(out).all()
        close(out[0], [[[1.] * 3] * 3] + [[[0.] * 3] * 3] * 2)
        out.sum().backward()
        assert torch.isfinite(embed.grad).all()
        assert torch.isfinite(nbs.grad).all()

    def test_no_active_pair_keeps_graph(self):
        embed = torch.randn(1, 2, 1, 3, requires_grad=True)
        out = pacam(embed, self.NB.float(), self.W.float(), torch.zeros(1, 2))
        close(out[0, 0], [[1.] * 3])
        out.sum().backward()
        assert embed.grad is not None and (embed.grad == 0).all()


# --------------------------------------------------------------------- loss
class TestSelfSupervisedLoss:
    CAM = t([[[[0.2, 0.4]], [[0.8, 0.6]]]])
    PAC = t([[[[0.1, 0.4]], [[0.5, 0.9]]]])

    def test_hand(self):
        cam, pac = self.CAM, self.PAC
        ones = torch.ones(1, 1, 1, 2, dtype=D)
        close(self_supervised_loss(cam, pac, ones), 0.175)
        close(self_supervised_loss(cam, pac), 0.175)
        close(self_supervised_loss(cam, pac, t([[[[1., 0.]]]])), 0.2)
        close(self_supervised_loss(cam, pac, t([[[[0., 1.]]]])), 0.15)
        close(self_supervised_loss(cam, pac, ones, torch.tensor([[True,
                                                                  False]])),
              0.05)
        close(
            self_supervised_loss(cam, pac, t([[[[1., 0.]]]]),
                                 torch.tensor([[False, True]])), 0.3)

    def test_matches_loop(self, ref):
        g = gen(13)
        cam = torch.rand(3, 4, 3, 3, generator=g, dtype=D)
        pac = torch.rand(3, 4, 3, 3, generator=g, dtype=D)
        valid = random_valid(g, 3, 3, 3)
        valid[2] = 0
        channels = torch.rand(3, 4, generator=g) > 0.4
        close(self_supervised_loss(cam, pac, valid, channels),
              ref.loss(cam, pac, valid, channels))
        close(self_supervised_loss(cam, pac, valid),
              ref.loss(cam, pac, valid, None))

    def test_nothing_selected(self):
        cam = torch.rand(2, 3, 2, 2, requires_grad=True)
        pac = torch.rand(2, 3, 2, 2, requires_grad=True)
        for valid, channels in ((torch.zeros(2, 1, 2, 2), None),
                                (torch.ones(2, 1, 2, 2),
                                 torch.zeros(2, 3, dtype=torch.bool))):
            loss = self_supervised_loss(cam, pac, valid, channels)
            assert loss.item() == 0 and loss.grad_fn is not None
            cam.grad = pac.grad = None
            loss.backward()
            assert (cam.grad == 0).all() and (pac.grad == 0).all()

    def test_gradcheck(self):
        g = gen(14)
        cam = torch.rand(2, 3, 2, 2, generator=g, dtype=D).requires_grad_()
        pac = torch.rand(2, 3, 2, 2, generator=g, dtype=D).requires_grad_()
        valid = random_valid(g, 2, 2, 2)
        channels = torch.tensor([[True, True, False], [True, False, True]])
        assert torch.autograd.gradcheck(
            lambda a, b: self_supervised_loss(a, b, valid, channels),
            (cam, pac))


def test_end_to_end_degenerate_backward():
    """All-zero logits and a fully padded image through the whole chain."""
    logits = torch.zeros(2, 3, 3, 3, requires_grad=True)
    embed = torch.zeros(2, 4, 3, 3, requires_grad=True)
    labels = t([[1., 0., 1.], [0., 1., 0.]], torch.float32)
    valid = torch.ones(2, 1, 3, 3)
    valid[1] = 0
    cam = cam_from_logits(logits, labels, valid, 0.5)
    protos, present = instance_prototypes(embed, cam[:, 1:].detach(), labels,
                                          valid=valid)
    nbs = protos[:, :, None].expand(-1, -1, 2, -1)
    weights = positiveness(protos.flatten(0, 1), nbs.flatten(0, 1),
                           'l2').view(2, 3, 2).detach()
    pac = pacam(embed, nbs, weights, labels, None, valid, mask=present)
    loss = self_supervised_loss(cam, pac, valid)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()
    assert torch.isfinite(embed.grad).all()
