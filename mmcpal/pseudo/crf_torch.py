"""Pure-torch fully connected CRF: a permutohedral lattice plus mean-field.

This is the default backend of :func:`mmcpal.pseudo.crf.dense_crf`. It follows
the inference of Krähenbühl & Koltun, "Efficient Inference in Fully Connected
CRFs with Gaussian Edge Potentials" (NeurIPS 2011) as implemented in their
``densecrf`` library (the C++ core of ``pydensecrf`` / ``pydensecrf2``):

* The Gaussian filtering ``sum_j exp(-|f_i - f_j|^2 / 2) v_j`` of every
  message is approximated with the permutohedral lattice of Adams, Baek &
  Davis, "Fast High-Dimensional Filtering Using the Permutohedral Lattice"
  (Eurographics 2010): splat onto the ``d + 1`` vertices of the enclosing
  simplex with barycentric weights, blur with ``[1/2, 1, 1/2]`` along each of
  the ``d + 1`` lattice axes, slice back. The lattice construction (feature
  elevation, rounding, rank, barycentric weights, blur neighbours and the
  ``1 / (1 + 2^-d)`` slice constant) mirrors ``Permutohedral::init`` and
  ``Permutohedral::seqCompute`` of ``densecrf/src/permutohedral.cpp``, so both
  backends filter with the same approximate kernel and differ only by
  floating-point rounding. The hash table is replaced by sorting packed
  integer keys, and splat, blur and slice are sparse CSR matrix products, so
  all work is vectorised torch and runs on any device.
* Kernels are normalised symmetrically, ``D^-1/2 K D^-1/2`` with
  ``D = diag(K 1)``, the default ``NORMALIZE_SYMMETRIC`` of pydensecrf's
  ``addPairwiseGaussian`` / ``addPairwiseBilateral`` (``densecrf.pyx``) and
  ``DenseKernel::initLattice`` / ``filter`` in ``densecrf/src/pairwise.cpp``.
  As there, ``K`` includes the pixel itself.
* Potts compatibility ``mu(l, l') = -w [l = l']`` (``PottsCompatibility``)
  and the update of ``DenseCRF::inference``: ``Q = softmax(-U)``, then
  ``Q = softmax(-U + sum_k w_k K~_k Q)`` per iteration.

Speed: all kernels of one CRF share one splat / blur / slice chain of int32
CSR products (two lattice axes per blur matrix), the smoothness lattice and
its blur matrices are cached per image size, label counts are padded to a
multiple of 8 (or kept below 8 with a hand-written softmax), and labels with
marginal < 1e-4 at every pixel are skipped in message passing (see
:func:`mean_field`). The splat is the costliest product (each lattice
point gathers pixel rows from all over memory); numbering the lattice points
t-major (the d+1 vertices of one simplex get nearby numbers, see
:meth:`PermutohedralLattice._index`) makes consecutive splat rows read
overlapping pixels, about 2x faster than a colour-major numbering. This
changes only the numbering of lattice points (hence the order of
floating-point sums), not the approximation. On one CPU thread this takes
about 0.9x the time of pydensecrf's C++ with all 21 VOC labels active and
~0.65x with few (``benchmarks/crf_agreement.py`` measures both).
"""
import functools
import math
import warnings
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor

# densecrf adds 1e-20 before taking 1/sqrt of the kernel row sums
# (DenseKernel::initLattice in densecrf/src/pairwise.cpp).
_NORM_EPS = 1e-20
# Lattice keys are packed into one int64 code below this many codes, else
# compared row-wise (slower).
_MAX_PACKED_CODES = 2**62


def _csr(crow: Tensor,
         col: Tensor,
         val: Tensor,
         size: Tuple[int, int],
         index_dtype: torch.dtype = torch.int32) -> Tensor:
    """Builds a CSR matrix; int32 indices make spmm faster on CPU."""
    with warnings.catch_warnings():
        # torch warns that sparse CSR support is in beta.
        warnings.simplefilter('ignore', UserWarning)
        return torch.sparse_csr_tensor(
            crow.to(index_dtype),
            col.to(index_dtype),
            val.float(),
            size,
            check_invariants=False)


def _canonical_simplex(d: int, device: torch.device) -> Tensor:
    """Canonical simplex of the permutohedral lattice, shape ``(d+1, d+1)``.

    Row ``r`` holds ``r`` for columns ``0..d-r`` and ``r - (d+1)`` after,
    as in ``Permutohedral::init`` (Adams et al. 2010, Sec. 3.1).
    """
    r = torch.arange(d + 1, device=device)[:, None]
    j = torch.arange(d + 1, device=device)[None, :]
    return torch.where(j <= d - r, r, r - (d + 1))


def _neighbour_offsets(d: int, device: torch.device) -> Tensor:
    """Key offsets of the two blur neighbours along each lattice axis.

    Returns:
        Tensor: ``(d+1, 2, d)`` int64. Along axis ``j < d`` the neighbours are
        ``key - 1`` with ``key[j] + d`` and ``key + 1`` with ``key[j] - d``;
        along axis ``d`` (the implicit last coordinate) they are ``key - 1``
        and ``key + 1`` (``blur_neighbors_`` in ``Permutohedral::init``).
    """
    off = torch.empty(d + 1, 2, d, dtype=torch.int64, device=device)
    off[:, 0] = -1
    off[:, 1] = 1
    for j in range(d):
        off[j, 0, j] = d
        off[j, 1, j] = -d
    return off


def _lookup_sorted(sorted_codes: Tensor, query: Tensor,
                   missing: int) -> Tensor:
    """Position of each ``query`` in ``sorted_codes``; ``missing`` if absent.
    """
    idx = torch.searchsorted(sorted_codes, query)
    found = sorted_codes[idx.clamp(max=sorted_codes.numel() - 1)] == query
    return torch.where(found, idx, torch.full_like(idx, missing))


_Parts = Tuple[Tensor, Tensor, Tensor]  # CSR (crow, col, val)


def _stack_rows(blocks: Sequence[_Parts],
                col_shifts: Sequence[int],
                size: Tuple[int, int],
                index_dtype: torch.dtype = torch.int32) -> Tensor:
    """Stacks CSR row blocks vertically, shifting their columns, into CSR."""
    crows, cols, vals = [], [], []
    nnz = 0
    for i, ((crow, col, val), shift) in enumerate(zip(blocks, col_shifts)):
        crows.append(crow[(0 if i == 0 else 1):] + nnz)
        nnz += int(crow[-1])
        cols.append(col + shift)
        vals.append(val)
    return _csr(torch.cat(crows), torch.cat(cols), torch.cat(vals), size,
                index_dtype)


class PermutohedralLattice:
    """Permutohedral lattice for approximate Gaussian filtering in torch.

    ``lattice.filter(v)`` approximates ``sum_j exp(-|f_i - f_j|^2 / 2) v_j``
    (up to a constant factor) for the features ``f`` the lattice was built
    from, in ``O(N d^2 + M d L)`` time instead of ``O(N^2 L)``.

    Args:
        features (Tensor): Float features, shape ``(N, d)``, already divided
            by the kernel's standard deviations.

    Attributes:
        offsets (Tensor): ``(N, d+1)`` int32 lattice point of each simplex
            vertex of each pixel.
        barycentric (Tensor): ``(N, d+1)`` float32 splat/slice weights.
        neighbours (Tensor): ``(d+1, 2, M)`` int64 blur neighbours of every
            lattice point along each axis; the value ``M`` marks a missing
            neighbour.
        num_points (int): Number of lattice points ``M``.
    """

    def __init__(self, features: Tensor) -> None:
        if features.ndim != 2 or features.shape[1] < 1:
            raise ValueError('PermutohedralLattice: features must have shape '
                             '(N, d) with d >= 1, got '
                             f'{tuple(features.shape)}')
        if not features.is_floating_point():
            raise ValueError('PermutohedralLattice: features must be floating '
                             f'point, got {features.dtype}')
        # A sum is NaN/inf if any element is (or if values are absurdly large)
        # and costs one pass instead of an elementwise mask.
        if not bool(torch.isfinite(features.sum())):
            raise ValueError('PermutohedralLattice: features contain NaN/inf '
                             'or overflow float32')
        self.num_pixels, self.dim = features.shape
        rem0, rank, self.barycentric = self._embed(features.float())
        self._index(rem0, rank)
        # Blur parts depend on the lattice points only: the cached smoothness
        # lattice composes them once per image size.
        self._blur_cache: Dict[Tuple[int, ...], _Parts] = {}

    def _embed(self, feat: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Finds the enclosing simplex of every feature.

        Works on ``(d+1, N)`` rows so every step is a contiguous vector op.

        Returns:
            tuple[Tensor, Tensor, Tensor]: the nearest 0-coloured lattice
            point ``rem0`` ``(d+1, N)`` int64 (after the hyperplane shift),
            the ``rank`` ``(d+1, N)`` int64 of each coordinate and the
            barycentric weights ``(N, d+1)`` float32.
        """
        n, d = feat.shape
        d1 = d + 1
        # Expected standard deviation of the filter and the diagonal of the
        # elevation matrix E (Adams et al. 2010, p. 5-6; densecrf's init).
        inv_std_dev = math.sqrt(2.0 / 3.0) * d1
        cf = feat.t().contiguous()
        for i in range(d):
            cf[i] *= float(1.0 / math.sqrt((i + 2) * (i + 1)) * inv_std_dev)
        # elevated[j] = sum_{i >= j} cf[i] - j * cf[j-1]; elevated[0] = sum cf
        # (summed from the last coordinate down, as densecrf).
        elevated = feat.new_empty(d1, n)
        running = torch.zeros_like(cf[0])
        for j in range(d, 0, -1):
            torch.sub(running, cf[j - 1], alpha=j, out=elevated[j])
            running += cf[j - 1]
        elevated[0] = running
        # Closest 0-coloured lattice point: round each coordinate to a multiple
        # of d+1. densecrf's SSE path rounds half to even, as torch.round.
        v = torch.round(elevated / d1)
        rem0 = v * d1
        total = v.sum(0).to(torch.int8)
        # Rank of each remainder coordinate in decreasing order, with
        # densecrf's tie rule: for i < j, rank[i]++ if d_i < d_j else
        # rank[j]++.
        diff = elevated - rem0
        rank = torch.zeros(d1, n, dtype=torch.int8, device=feat.device)
        for i in range(d):
            for j in range(i + 1, d1):
                less = diff[i] < diff[j]
                rank[i] += less
                rank[j] += ~less
        # Bring the point back onto the hyperplane (coordinates sum to 0).
        rank += total
        shift = (rank < 0).to(torch.int8) - (rank > d).to(torch.int8)
        rank += shift * d1
        rem0 += shift * d1
        # Barycentric coordinates (Adams et al. 2010, p. 10).
        w = (elevated - rem0) / d1
        rank = rank.long()
        bary = feat.new_zeros(d + 2, n)
        bary.scatter_add_(0, d - rank, w)
        bary.scatter_add_(0, d - rank + 1, -w)
        bary[0] += 1.0 + bary[d + 1]
        return rem0.long(), rank, bary[:d1].t().contiguous()

    def _index(self, rem0: Tensor, rank: Tensor) -> None:
        """Numbers the lattice points, finds blur neighbours, builds splat.

        Vertex ``r`` of a pixel's simplex has the key
        ``key[i] = rem0[i] + canonical[r, rank[i]]`` (``i < d``). Keys are
        packed into one integer (mixed radix) whenever their range allows,
        else compared row-wise with ``torch.unique(dim=0)``. Lattice points
        are numbered in sorted code order. Vertex entries are handled
        vertex-major: entry ``k = r * N + p`` is vertex ``r`` of pixel ``p``.
        """
        d1, n = rem0.shape
        d = d1 - 1
        dev = rem0.device
        # Every key coordinate of vertex r is congruent to r mod d+1 (rem0 is
        # a multiple of d+1 and canonical[r] holds r or r - (d+1)), so a key
        # is (r, t) with key[i] = (d+1) t[i] + r and
        # t[i] = rem0[i] / (d+1) - [rank[i] > d - r]. Packing (r, t) needs
        # (d+1)^d times fewer codes than packing the key, usually int32.
        # Blur neighbours move t by at most 1: margins of 2 keep them packed.
        # The code is t-major, ``packed_t * (d+1) + r``: the d+1 vertices of
        # a simplex get nearby numbers, so consecutive splat rows read
        # overlapping pixels (the splat is ~2x faster than with r-major
        # codes, where each colour's points form a separate block).
        base_t = torch.div(rem0[:d], d1, rounding_mode='floor')
        lo = base_t.min(1).values - 2
        span = (base_t.max(1).values + 2 - lo + 1).tolist()
        n_codes = d1 * math.prod(span)
        if n_codes < _MAX_PACKED_CODES:
            radix_l = [math.prod(span[i + 1:]) for i in range(d)]
            radix = torch.tensor(radix_l, dtype=torch.int64, device=dev)
            total = int(radix.sum())
            base = torch.zeros(n, dtype=torch.int64, device=dev)
            for i in range(d):
                base += (base_t[i] - int(lo[i])) * radix_l[i]
            # sum_{i: rank_i > d-r} radix_i = R - sum_{i: rank_i <= d-r}.
            by_rank = torch.zeros(d1, n, dtype=torch.int64, device=dev)
            by_rank.scatter_(0, rank[:d], radix[:, None].expand(d, n))
            prefix = by_rank  # in-place running sum over the rank rows
            for k in range(1, d1):
                prefix[k] += prefix[k - 1]
            codes = torch.empty(d1, n, dtype=torch.int64, device=dev)
            for r in range(d1):
                torch.add(prefix[d - r], base, out=codes[r])
                codes[r] -= total
                codes[r] *= d1
                codes[r] += r
            codes = codes.reshape(-1)
            if n_codes < 2**31:  # int32 sorts and searches about 2x faster
                codes = codes.int()
            # Stable: within a lattice point pixels stay ascending, so the
            # splat rows read the values in memory order.
            sorted_codes, order = torch.sort(codes, stable=True)
            is_new = torch.ones_like(sorted_codes, dtype=torch.bool)
            is_new[1:] = sorted_codes[1:] != sorted_codes[:-1]
            starts = torch.nonzero(is_new)[:, 0]
            uniq = sorted_codes.index_select(0, starts)
            # Neighbour "key - 1, key[j] + d" along axis j (all - 1 for
            # j = d): for r >= 1 it is (r - 1, t + e_j), code
            # + e_j (d+1) - 1; for r = 0 it is (d, t - 1 + e_j), code
            # + (e_j - total) (d+1) + d. Only this one is searched; the
            # opposite neighbour is its inverse.
            e_j = torch.cat([radix, radix.new_zeros(1)])  # (d1,)
            uniq64 = uniq.long()
            delta_pos = e_j * d1 - 1
            delta_zero = (e_j - total) * d1 + d
            at_zero = (uniq64 % d1 == 0)[None, :]
            query = uniq64 + torch.where(at_zero, delta_zero[:, None],
                                         delta_pos[:, None])
            fwd = _lookup_sorted(uniq, query.to(uniq.dtype), uniq.numel())
            neigh = self._with_inverse(fwd)
        else:
            canonical = _canonical_simplex(d, dev)
            keys = rem0[:d].t()[None] + canonical[:, rank[:d].t()]
            uniq_keys, inverse = torch.unique(
                keys.reshape(-1, d), dim=0, return_inverse=True)
            order = torch.argsort(inverse, stable=True)
            is_new = torch.ones_like(order, dtype=torch.bool)
            is_new[1:] = inverse[order[1:]] != inverse[order[:-1]]
            starts = torch.nonzero(is_new)[:, 0]
            neigh = self._neighbours_by_unique(uniq_keys)
        # group[k]: lattice point of the k-th entry in sorted order.
        group = torch.cumsum(is_new, 0, dtype=torch.int32) - 1
        offsets = torch.empty_like(group).index_copy_(0, order, group)
        self.offsets = offsets.reshape(d1, n).t().contiguous()
        self.neighbours = neigh
        self.num_points = neigh.shape[-1]
        # Splat CSR (M, N): entry k of the sorted order belongs to row
        # group[k]; ``order`` indexes vertex-major entries.
        pixel = order.int() % n  # int32 division is faster
        weight = self.barycentric.t().reshape(-1).index_select(0, order)
        self._splat = (torch.cat([starts, starts.new_tensor([n * d1])]).int(),
                       pixel, weight)

    @staticmethod
    def _with_inverse(fwd: Tensor) -> Tensor:
        """Adds the opposite neighbours: if ``fwd[j, a] = b`` then b's
        opposite neighbour along axis j is a.

        Args:
            fwd (Tensor): ``(d+1, M)`` neighbour along each axis, ``M`` if
                missing.

        Returns:
            Tensor: ``(d+1, 2, M)``.
        """
        d1, m = fwd.shape
        bwd = torch.full((d1, m + 1), m, dtype=fwd.dtype, device=fwd.device)
        src = torch.arange(m, device=fwd.device).expand(d1, m)
        bwd.scatter_(1, fwd, src)
        return torch.stack([fwd, bwd[:, :m]], 1)

    @staticmethod
    def _neighbours_by_unique(uniq_keys: Tensor) -> Tensor:
        """Blur neighbours by row-wise unique (key ranges beyond 62 bits)."""
        m, d = uniq_keys.shape
        dev = uniq_keys.device
        off = _neighbour_offsets(d, dev)  # (d+1, 2, d)
        cand = uniq_keys[None, None] + off[:, :, None, :]  # (d+1, 2, m, d)
        both = torch.cat([uniq_keys, cand.reshape(-1, d)], 0)
        _, ids = torch.unique(both, dim=0, return_inverse=True)
        owner = torch.full((int(ids.max()) + 1, ),
                           m,
                           dtype=torch.int64,
                           device=dev)
        owner[ids[:m]] = torch.arange(m, device=dev)
        return owner[ids[m:]].reshape(d + 1, 2, m)

    def blur_parts(self, axes: Sequence[int]) -> _Parts:
        """CSR parts of the ``[1/2, 1, 1/2]`` blurs along ``axes``, composed.

        The result is ``B_{axes[-1]} ... B_{axes[0]}`` (``axes[0]`` applied
        first) with ``3^len(axes)`` candidate entries per row; missing
        neighbours are dropped. Composing consecutive axes means fewer passes
        over the grid per filtering for the same arithmetic. Results are
        cached per ``axes``.
        """
        key = tuple(int(j) for j in axes)
        if key not in self._blur_cache:
            self._blur_cache[key] = self._compose_blurs(key)
        return self._blur_cache[key]

    def _compose_blurs(self, axes: Tuple[int, ...]) -> _Parts:
        """Builds the CSR parts of :meth:`blur_parts` (int32 indices)."""
        m = self.num_points
        dev = self.offsets.device
        sentinel = torch.tensor([m], dtype=torch.int32, device=dev)
        own = torch.arange(m + 1, dtype=torch.int32, device=dev)
        cols = own[:m]
        width = 1
        vals = torch.ones(m, 1, device=dev)
        taps = torch.tensor([0.5, 1.0, 0.5], device=dev)
        for j in reversed(list(axes)):  # expand the last-applied axis first
            n1, n2 = self.neighbours[j].int()
            table = torch.stack(
                [torch.cat([n1, sentinel]), own,
                 torch.cat([n2, sentinel])], 1)  # row m maps to m
            cols = table.index_select(0, cols.reshape(-1))
            width *= 3
            vals = (vals[:, :, None] * taps).reshape(m, width)
        cols = cols.reshape(m, width)
        keep = cols < m
        crow = torch.zeros(m + 1, dtype=torch.int32, device=dev)
        torch.cumsum(keep.sum(1, dtype=torch.int32), 0, out=crow[1:])
        return crow, cols.masked_select(keep), vals.masked_select(keep)

    def splat_parts(self) -> _Parts:
        """CSR parts ``(crow, col, val)`` of the ``(M, N)`` splat matrix."""
        return self._splat

    def slice_parts(self) -> Tuple[Tensor, Tensor]:
        """Per-pixel ``(columns, weights)`` ``(N, d+1)`` of the slice.

        The weights include densecrf's ``1 / (1 + 2^-d)`` slice constant.
        """
        return self.offsets, self.barycentric * (1.0 /
                                                 (1.0 + 2.0**(-self.dim)))

    def filter(self, values: Tensor) -> Tensor:
        """Approximate Gaussian filtering of per-pixel values.

        Args:
            values (Tensor): Shape ``(N, L)``.

        Returns:
            Tensor: ``(N, L)`` float32 filtered values (unnormalised).
        """
        return FusedFilter([self], [1.0], normalize=False)(values)


class FusedFilter:
    """Several lattice filters summed in one splat / blur / slice chain.

    Computes ``sum_k w_k s_k * S_k^T B_k S_k (s_k * v)`` for lattices ``k``
    by stacking all lattice points into one grid, so one call costs one
    splat, ``ceil((max_k d_k + 1) / 2)`` blurs (consecutive lattice axes are
    pre-multiplied in pairs) and one slice. With ``normalize=True`` the
    per-pixel scales are ``s_k = (K_k 1 + 1e-20)^-1/2``, the symmetric
    normalisation ``D^-1/2 K D^-1/2`` of densecrf's ``NORMALIZE_SYMMETRIC``
    (``DenseKernel::initLattice``); else ``s_k = 1``.

    Args:
        lattices (Sequence[PermutohedralLattice]): Lattices on the same pixels.
        weights (Sequence[float]): Weight ``w_k`` of each lattice's output.
        normalize (bool): Whether to normalise each kernel symmetrically.
            Defaults to True.
    """

    def __init__(self,
                 lattices: Sequence[PermutohedralLattice],
                 weights: Sequence[float],
                 normalize: bool = True) -> None:
        if not (len(lattices) == len(weights) >= 1):
            raise ValueError('FusedFilter: need one weight per lattice and at '
                             f'least one lattice, got {len(lattices)} '
                             f'lattices and {len(weights)} weights')
        n = lattices[0].num_pixels
        if any(lat.num_pixels != n for lat in lattices):
            raise ValueError('FusedFilter: lattices cover different numbers '
                             'of pixels')
        self.num_pixels = n
        self._buffers: Tuple[Tensor, Tensor] | None = None
        starts = [0]
        for lat in lattices:
            starts.append(starts[-1] + lat.num_points)
        self._starts = starts
        total = starts[-1]
        # Block-diagonal blurs, two consecutive lattice axes per matrix
        # (fewer passes over the grid for the same work); a lattice with
        # fewer axes gets identity blocks on the extra steps.
        n_axes = max(lat.dim for lat in lattices) + 1
        self.blurs = []
        for first in range(0, n_axes, 2):
            blocks = [
                lat.blur_parts(
                    [j for j in (first, first + 1) if j <= lat.dim])
                for lat in lattices
            ]
            self.blurs.append(_stack_rows(blocks, starts[:-1],
                                          (total, total)))
        # Unscaled splat (lattices stacked vertically) and slice (side by
        # side, a fixed number of entries per pixel).
        splats = [lat.splat_parts() for lat in lattices]
        crows, nnz = [], 0
        for i, (crow, _, _) in enumerate(splats):
            crows.append(crow[(0 if i == 0 else 1):] + nnz)
            nnz += int(crow[-1])
        splat_crow = torch.cat(crows)
        splat_cols = torch.cat([c for _, c, _ in splats])
        splat_vals = torch.cat([v for _, _, v in splats])
        slice_cols = torch.cat([
            c + start for (c, _), start in zip(
                [lat.slice_parts() for lat in lattices], starts)
        ], 1)
        slice_vals = torch.cat([lat.slice_parts()[1] for lat in lattices], 1)
        per_row = slice_cols.shape[1]
        slice_crow = torch.arange(
            0, n * per_row + 1, per_row, device=slice_cols.device).int()
        slice_cols = slice_cols.reshape(-1)
        nnz_starts = [0]
        col_starts = [0]
        for lat in lattices:
            nnz_starts.append(nnz_starts[-1] + lat.num_pixels * (lat.dim + 1))
            col_starts.append(col_starts[-1] + lat.dim + 1)
        if normalize:
            self.splat = _csr(splat_crow, splat_cols, splat_vals, (total, n))
            self.slice = _csr(slice_crow, slice_cols, slice_vals.reshape(-1),
                              (n, total))
            ones = splat_vals.new_ones(n, 1)
            grid = self._blur(self.splat @ ones)
            # Slice every lattice's block into its own output column.
            blockwise = grid.new_zeros(total, len(lattices))
            for k in range(len(lattices)):
                blockwise[starts[k]:starts[k + 1], k] = \
                    grid[starts[k]:starts[k + 1], 0]
            row_sums = self.slice @ blockwise  # (n, K): K_k 1
            scale = 1.0 / torch.sqrt(row_sums + _NORM_EPS)
            splat_vals = splat_vals.clone()
            slice_vals = slice_vals.clone()
            for k in range(len(lattices)):
                a, b = nnz_starts[k], nnz_starts[k + 1]
                splat_vals[a:b] *= scale[:, k].contiguous().index_select(
                    0, splat_cols[a:b])
                slice_vals[:, col_starts[k]:col_starts[k + 1]] *= \
                    scale[:, k:k + 1]
        for k, weight in enumerate(weights):
            slice_vals[:, col_starts[k]:col_starts[k + 1]] *= float(weight)
        self.splat = _csr(splat_crow, splat_cols, splat_vals, (total, n))
        self.slice = _csr(slice_crow, slice_cols, slice_vals.reshape(-1),
                          (n, total))

    def _blur(self, grid: Tensor) -> Tensor:
        for blur in self.blurs:
            grid = blur @ grid
        return grid

    def __call__(self, values: Tensor) -> Tensor:
        """Filters ``(N, L)`` values; returns ``(N, L)`` float32."""
        if values.ndim != 2 or values.shape[0] != self.num_pixels:
            raise ValueError('FusedFilter: values must have shape '
                             f'({self.num_pixels}, L), got '
                             f'{tuple(values.shape)}')
        values = values.float()
        n_cols = values.shape[1]
        if self._buffers is None or self._buffers[0].shape[1] != n_cols:
            total = self._starts[-1]
            self._buffers = (values.new_empty(total, n_cols),
                             values.new_empty(total, n_cols))
        grid, spare = self._buffers
        _spmm(self.splat, values, grid)
        for blur in self.blurs:
            _spmm(blur, grid, spare)
            grid, spare = spare, grid
        return _spmm(self.slice, grid, values.new_empty(self.num_pixels,
                                                        n_cols))


def _spmm(mat: Tensor, dense: Tensor, out: Tensor) -> Tensor:
    """``out = mat @ dense`` for CSR ``mat``, written into ``out``.

    ``addmm`` with ``beta=0`` and ``out=`` avoids the zero-filled temporary
    and the copy that ``mat @ dense`` makes on CPU (about 3x faster here).
    """
    return torch.addmm(out, mat, dense, beta=0, out=out)


def _softmax_rows(logits: Tensor) -> Tensor:
    """Row softmax of an ``(N, L)`` tensor, fast for small ``L``."""
    e = (logits - logits.amax(1, keepdim=True)).exp_()
    return e.div_(e @ e.new_ones(e.shape[1], 1))


def _column_max(values: Tensor, block: int = 64) -> Tensor:
    """``values.amax(0)`` for ``(N, L)``; reducing ``(N/block, block*L)``
    rows first is ~20x faster on CPU than a strided column reduction."""
    n, n_cols = values.shape
    head = n - n % block
    result = values[head:].amax(0) if head < n else values[0]
    if head:
        part = values[:head].reshape(-1, block * n_cols).amax(0)
        result = torch.maximum(result, part.reshape(block, n_cols).amax(0))
    return result


def gaussian_features(height: int,
                      width: int,
                      sxy: float,
                      device: torch.device | str = 'cpu') -> Tensor:
    """Smoothness-kernel features ``(x / sxy, y / sxy)`` per pixel.

    Pixels are ordered row-major and ``x`` is the column, as in
    ``DenseCRF2D::addPairwiseGaussian``.

    Returns:
        Tensor: ``(H*W, 2)`` float32.
    """
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing='ij')
    return torch.stack([xs.reshape(-1) / sxy, ys.reshape(-1) / sxy], 1)


@functools.lru_cache(maxsize=8)
def gaussian_lattice(height: int, width: int, sxy: float,
                     device: torch.device) -> PermutohedralLattice:
    """Lattice of the smoothness kernel, cached per image size and ``sxy``.

    It depends on the image size only, so a data set of few distinct sizes
    (e.g. VOC's 500x375) builds it once. Lattices are never modified.
    """
    return PermutohedralLattice(
        gaussian_features(height, width, sxy, device=device))


def bilateral_features(image: Tensor, sxy: float, srgb: float) -> Tensor:
    """Appearance-kernel features ``(x/sxy, y/sxy, r/srgb, g/srgb, b/srgb)``.

    Args:
        image (Tensor): ``(H, W, 3)`` colour image (any numeric dtype).
        sxy (float): Spatial standard deviation in pixels.
        srgb (float): Colour standard deviation in intensity units.

    Returns:
        Tensor: ``(H*W, 5)`` float32, as ``DenseCRF2D::addPairwiseBilateral``.
    """
    h, w = image.shape[:2]
    xy = gaussian_features(h, w, sxy, device=image.device)
    rgb = image.reshape(-1, 3).float() / srgb
    return torch.cat([xy, rgb], 1)


def mean_field(unary: Tensor,
               message: FusedFilter | None,
               iters: int,
               prune_below: float = 1e-4) -> Tensor:
    """Mean-field inference with Potts compatibilities.

    Note:
        Labels whose marginal stays below ``prune_below`` at every pixel are
        left out of the message passing of that iteration (their message is
        taken as 0). Their true message is at most
        ``sum_k w_k * prune_below * max_i (K~_k 1)_i``, about ``1e-3`` in
        logit units for the default weights, so results change negligibly,
        while images whose unaries mention a few of many labels (the usual
        WSSS case) run several times faster. Set 0 to disable.

    Args:
        unary (Tensor): ``(N, L)`` unary energies (negative log probabilities).
        message (FusedFilter | None): The weighted, normalised pairwise
            filter ``sum_k w_k K~_k``; None for no pairwise terms.
        iters (int): Number of mean-field iterations.
        prune_below (float): Marginal below which a label is skipped in the
            message passing. Defaults to 1e-4.

    Returns:
        Tensor: ``(N, L)`` marginals ``Q``.
    """
    n_labels = unary.shape[1]
    if n_labels < 8:
        # Few labels: exact width and a hand-written softmax (torch's is
        # ~8x slower on rows of 2..7 values on CPU).
        width, softmax = n_labels, _softmax_rows
        neg_unary = -unary
    else:
        # Many labels: pad to a multiple of 8, where torch's softmax and the
        # spmm vectorise (2x faster at 21 -> 24). Padded labels have energy
        # +inf, so their marginal and message are exactly 0.
        width = -(-n_labels // 8) * 8
        softmax = functools.partial(torch.softmax, dim=1)
        neg_unary = unary.new_full((unary.shape[0], width), float('-inf'))
        neg_unary[:, :n_labels] = -unary
    q = softmax(neg_unary)
    if message is None or iters == 0:
        return q[:, :n_labels].contiguous()
    for _ in range(iters):
        active = _column_max(q) >= prune_below
        count = int(active.sum())
        # Message width: up to 4 labels exactly (the sparse products are
        # latency bound there), else a multiple of 8.
        msg_width = count if count <= 4 else min(-(-count // 8) * 8, width)
        if msg_width >= width:
            logits = message(q).add_(neg_unary)
        else:
            idx = torch.cat([
                torch.nonzero(active)[:, 0],
                torch.nonzero(~active)[:msg_width - count, 0]
            ])
            logits = neg_unary.index_add(1, idx, message(q[:, idx]))
        q = softmax(logits)
    return q[:, :n_labels].contiguous()


def dense_crf_torch(image: Tensor,
                    unary: Tensor,
                    *,
                    iters: int,
                    pairwise: Sequence[Tuple[str, dict, float]],
                    prune_below: float = 1e-4) -> Tensor:
    """Runs the dense CRF on one image with the permutohedral lattice.

    Args:
        image (Tensor): ``(H, W, 3)`` image on the target device.
        unary (Tensor): ``(L, H, W)`` float32 unary energies.
        iters (int): Mean-field iterations.
        pairwise (Sequence[tuple[str, dict, float]]): ``('gaussian',
            dict(sxy=...), w)`` and/or ``('bilateral', dict(sxy=..,
            srgb=..), w)`` terms; terms with ``w == 0`` are skipped.
        prune_below (float): See :func:`mean_field`. Defaults to 1e-4.

    Returns:
        Tensor: ``(L, H, W)`` marginals.
    """
    n_labels, h, w = unary.shape
    lattices: List[PermutohedralLattice] = []
    weights: List[float] = []
    for kind, params, weight in pairwise:
        if weight == 0:
            continue
        if kind == 'gaussian':
            lattices.append(
                gaussian_lattice(h, w, float(params['sxy']), unary.device))
        elif kind == 'bilateral':
            feat = bilateral_features(image, params['sxy'], params['srgb'])
            lattices.append(PermutohedralLattice(feat))
        else:
            raise ValueError(f'dense_crf_torch: unknown pairwise kind {kind!r}'
                             ", expected 'gaussian' or 'bilateral'")
        weights.append(float(weight))
    message = None
    if lattices:
        message = FusedFilter(lattices, weights, normalize=True)
    flat = unary.reshape(n_labels, -1).t().contiguous().float()
    q = mean_field(flat, message, iters, prune_below)
    return q.t().reshape(n_labels, h, w)
