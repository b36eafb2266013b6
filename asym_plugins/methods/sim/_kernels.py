"""Low-level kernels shared by SIM and k-reciprocal re-ranking (torch only; no mmengine/torchreid).

Everything here is vectorised over rows/planes and works on CPU or CUDA tensors. The heavy loops are
over *chunks* (bounded memory), never over individual gallery items.

* :func:`topk_smallest` -- the ``k`` smallest entries of each row, in exactly the order of a
  *stable* ascending sort (ties broken by the lower column index), without sorting whole rows.
* :func:`selection_network` / :func:`kmin_planes` -- a comparator network that leaves the ``k``
  smallest of ``n`` same-shaped "planes" sorted in its first ``k`` planes. Used for "mean of the K
  smallest of n candidates" for millions of (query, gallery) pairs at once: each comparator is one
  elementwise min/max over a cache-sized block, which is far cheaper than ``topk`` over millions of
  tiny rows.
* :func:`reciprocal_sets`, :func:`expand_reciprocal_sets` -- k-reciprocal neighbour sets from rank
  lists, as padded index tensors (``-1`` = empty slot).
* :class:`SparseRows` and :func:`sparse_min_sum` -- sparse weight vectors (CSR) and the generalised
  Jaccard numerator ``S[i, j] = sum_t min(A[i, t], B[j, t])`` via an inverted index (only pairs of
  rows that share a column are ever touched).
"""
from __future__ import annotations

import functools
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

try:  # optional: faster row-wise k-min on CPU float32
    import faiss as _faiss  # type: ignore
except Exception:  # pragma: no cover - faiss is optional
    _faiss = None

__all__ = ['USE_FAISS', 'row_chunks', 'topk_smallest', 'selection_network', 'kmin_planes',
           'kmin_sum_plan', 'kmin_sum_planes', 'plan_cost', 'network_cost',
           'reciprocal_sets', 'expand_reciprocal_sets', 'SparseRows', 'padded_to_sparse',
           'sparse_min_sum', 'check_finite', 'check_distances', 'MAX_DISTANCE',
           'numpy_tie_order_', 'plane_block_rows']

#: Use faiss' heap-based k-min for CPU float32 rows when faiss is importable (2-3x faster than
#: ``torch.topk`` there). The result does not depend on this switch (ties are re-resolved).
USE_FAISS = _faiss is not None

#: Target number of elements of one plane block for :func:`kmin_planes` (keeps the n planes of a
#: block in cache on CPU).
PLANE_BLOCK_ELEMS_CPU = 1 << 16
PLANE_BLOCK_ELEMS_CUDA = 1 << 22


def plane_block_rows(row_len: int, device: torch.device, budget: int, n_planes: int) -> int:
    """Rows per block for plane computations: cache-sized on CPU, large on CUDA, within budget."""
    target = PLANE_BLOCK_ELEMS_CUDA if device.type == 'cuda' else PLANE_BLOCK_ELEMS_CPU
    target = min(target, max(1, budget // max(1, n_planes + 2)))
    return max(1, target // max(1, row_len))


def row_chunks(n_rows: int, row_len: int, budget: int) -> Iterator[Tuple[int, int]]:
    """Split ``range(n_rows)`` into consecutive chunks of at most ``budget`` elements (>= 1 row)."""
    step = max(1, int(budget) // max(1, int(row_len)))
    for r0 in range(0, n_rows, step):
        yield r0, min(n_rows, r0 + step)


def check_finite(x: torch.Tensor, name: str, budget: int) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or +-inf (checked chunk-wise: bounded memory)."""
    if x.numel() == 0:
        return
    flat_rows = x.reshape(x.shape[0], -1) if x.dim() > 1 else x.reshape(1, -1)
    for r0, r1 in row_chunks(flat_rows.shape[0], flat_rows.shape[1], budget):
        lo, hi = torch.aminmax(flat_rows[r0:r1])  # NaN propagates; one pass, no mask tensor
        if not (bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))):
            raise ValueError(f'{name} contains NaN or infinite values; distances must be finite.')


#: Largest |distance| accepted by the re-rankers: SIM's released fusion and k-reciprocal
#: re-ranking square the distances in float32 (``1e18 ** 2 = 1e36 < 3.4e38``).
MAX_DISTANCE = 1e18


def check_distances(x: torch.Tensor, name: str, budget: int, limit: float = MAX_DISTANCE,
                    what: str = 'the re-ranker') -> None:
    """Raise ``ValueError`` unless ``x`` holds finite distances in ``[0, limit]``.

    Tiny negative values from rounding are accepted unchanged: ``>= -1e-5 * max(max|x|, 1)``,
    e.g. the zero diagonal of a squared Euclidean distance computed as ``|a|^2 + |b|^2 - 2ab``
    (torchreid's ``euclidean_squared_distance`` gives -3e-7 there; its error scales with the
    squared norms, not with the largest distance).
    """
    check_finite(x, name, budget)
    if x.numel() == 0:
        return
    lo = min(float(torch.amin(x[r0:r1])) for r0, r1 in row_chunks(x.shape[0], x.shape[1], budget))
    hi = max(float(torch.amax(x[r0:r1])) for r0, r1 in row_chunks(x.shape[0], x.shape[1], budget))
    scale = max(abs(lo), abs(hi))
    if lo < -1e-5 * max(scale, 1.0):
        raise ValueError(
            f'{name} has negative entries (min {lo:.4g}): {what} needs distances (>= 0, smaller '
            '= closer). It squares them, so a negated similarity such as -cos ranks differently '
            'from the distance it stands for. Pass 1 - cos, or the Euclidean distance of '
            'L2-normalised features, sqrt(2 - 2 cos) (what the released SIM code uses)'
            + ('; similarity_inference(..., similarity=True) converts cosine similarities that '
               'way.' if what.startswith('SIM') else '.'))
    if hi > limit:
        raise ValueError(
            f'{name} has entries up to {hi:.4g} (> {limit:.0e}): squaring them overflows the '
            f'float32 / float16 arithmetic of {what}. Divide both distance matrices by one '
            'common scale, e.g. by dist_gg.max() (re-ranking results are unchanged by a common '
            'scale).')


def copy_transposed(dst: torch.Tensor, src: torch.Tensor, tile: int = 256) -> torch.Tensor:
    """``dst.copy_(src.t())`` in row tiles of ``src`` (cache-friendly on CPU)."""
    if src.device.type != 'cpu':
        return dst.copy_(src.t())
    for i0 in range(0, src.shape[0], tile):
        dst[:, i0:i0 + tile].copy_(src[i0:i0 + tile].t())
    return dst


# --------------------------------------------------------------------------------------------------
# Row-wise k smallest with deterministic (stable) tie-breaking
# --------------------------------------------------------------------------------------------------
def _raw_kmin(x: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """k smallest of each row, ascending by value; order among equal values unspecified."""
    # faiss pays only for large blocks (its OpenMP start-up costs milliseconds per call)
    if (USE_FAISS and x.device.type == 'cpu' and x.dtype == torch.float32 and k <= 1024
            and x.shape[0] >= 32 and x.numel() >= (1 << 20) and not x.requires_grad):
        xn = x.contiguous().numpy()
        vals, idx = _faiss.kmin(xn, k)
        return torch.from_numpy(vals), torch.from_numpy(idx)
    return torch.topk(x, k, dim=1, largest=False, sorted=True)


def topk_smallest(x: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` smallest entries of every row of the 2-D tensor ``x`` (finite values or +inf).

    Returns ``(values, indices)`` of shape ``(rows, k)``, equal to
    ``torch.sort(x, dim=1, stable=True)`` truncated to ``k`` columns: ascending values, ties broken
    by the lower column index -- deterministic, whatever backend found the candidates.
    ``k`` larger than the row length is clamped to it.
    """
    n = x.shape[1]
    k = min(int(k), n)
    if k <= 0:
        return x.new_empty((x.shape[0], 0)), torch.empty((x.shape[0], 0), dtype=torch.long,
                                                            device=x.device)
    if k >= n or n <= 32:
        vals, idx = torch.sort(x, dim=1, stable=True)
        return vals[:, :k].contiguous(), idx[:, :k].contiguous()
    vals, idx = _raw_kmin(x, k + 1)
    vals = vals.to(x.dtype)
    # The selected set is unique unless the k-th and (k+1)-th smallest values tie.
    ambiguous = (vals[:, k] == vals[:, k - 1]) | (idx[:, :k] < 0).any(1)
    vals, idx = vals[:, :k], idx[:, :k]
    # Order the selection by (value, index): sort by index, then stable-sort by value.
    idx, perm = idx.sort(dim=1)
    vals = vals.gather(1, perm)
    vals, perm = vals.sort(dim=1, stable=True)
    idx = idx.gather(1, perm)
    if bool(ambiguous.any()):
        # the k-th smallest value t is known: take every entry < t, then the lowest-index
        # entries == t until k are taken (linear in the row, no full sort of tied rows)
        rows = ambiguous.nonzero().squeeze(1)
        xr = x[rows]
        t = vals[rows, k - 1:k]
        less = xr < t
        eq = xr == t
        need = k - less.sum(1, keepdim=True)
        take = less | (eq & (torch.cumsum(eq, 1) <= need))
        si = take.nonzero()[:, 1].view(-1, k)  # column indices, ascending
        sv, perm = xr.gather(1, si).sort(dim=1, stable=True)
        vals[rows] = sv
        idx[rows] = si.gather(1, perm)
    return vals.contiguous(), idx.contiguous()


def numpy_tie_order_(x: torch.Tensor, idx: torch.Tensor, vals: torch.Tensor,
                     boundaries: Sequence[int], np_dtype=None) -> int:
    """Make the *sets* ``idx[r, :b]`` (``b`` in ``boundaries``) those of ``numpy.argsort(row)``.

    ``idx``/``vals`` are the first ``>= max(boundaries) + 1`` entries of a stable ascending
    sort of the rows of ``x`` (e.g. :func:`topk_smallest`). A set of the ``b`` smallest is
    ambiguous only when ``vals[r, b - 1] == vals[r, b]`` (a tie across the boundary); only those
    rows are re-ranked, by ``numpy.argsort`` (default kind, unstable: the released code's
    choice) of the row converted to ``np_dtype`` (the dtype the released code sorts). ``idx``
    is updated in place (its first ``idx.shape[1]`` columns); returns the number of rows
    re-ranked.
    """
    width = idx.shape[1]
    bs = [b for b in boundaries if 0 < b < min(vals.shape[1], x.shape[1])]
    if not bs:
        return 0
    amb = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
    for b in bs:
        amb |= vals[:, b - 1] == vals[:, b]
    rows = amb.nonzero().squeeze(1)
    if rows.numel() == 0:
        return 0
    xr = x[rows].detach().cpu().numpy()
    if np_dtype is not None:
        xr = xr.astype(np_dtype)
    order = np.argsort(xr, axis=1)[:, :width]
    idx[rows] = torch.from_numpy(order.astype(np.int64)).to(idx.device)
    return int(rows.numel())


# --------------------------------------------------------------------------------------------------
# Comparator networks over planes
# --------------------------------------------------------------------------------------------------
def _batcher_pairs(size: int) -> List[Tuple[int, int]]:
    """Comparators of Batcher's odd-even merge sort for ``size`` (a power of two) wires."""
    pairs: List[Tuple[int, int]] = []

    def merge(lo: int, n: int, r: int) -> None:
        step = 2 * r
        if step < n:
            merge(lo, n, step)
            merge(lo + r, n, step)
            pairs.extend((i, i + r) for i in range(lo + r, lo + n - r, step))
        else:
            pairs.append((lo, lo + r))

    def sort(lo: int, n: int) -> None:
        if n > 1:
            half = n // 2
            sort(lo, half)
            sort(lo + half, half)
            merge(lo, n, 1)

    sort(0, size)
    return pairs


#: Small sorting networks with the fewest known comparators (verified at first use with the 0-1
#: principle; a network failing verification is ignored and Batcher's is used instead).
_SMALL_SORTERS = {
    5: ((0, 1), (3, 4), (2, 4), (2, 3), (0, 3), (0, 2), (1, 4), (1, 3), (1, 2)),
    6: ((1, 2), (4, 5), (0, 2), (3, 5), (0, 1), (3, 4), (2, 5), (0, 3), (1, 4), (2, 4), (1, 3),
        (2, 3)),
    7: ((1, 2), (3, 4), (5, 6), (0, 2), (3, 5), (4, 6), (0, 1), (4, 5), (2, 6), (0, 4), (1, 5),
        (0, 3), (2, 5), (1, 3), (2, 4), (2, 3)),
    10: ((4, 9), (3, 8), (2, 7), (1, 6), (0, 5), (1, 4), (6, 9), (0, 3), (5, 8), (0, 2), (3, 6),
         (7, 9), (0, 1), (2, 4), (5, 7), (8, 9), (1, 2), (4, 6), (7, 8), (3, 5), (2, 5), (6, 8),
         (1, 3), (4, 7), (2, 3), (6, 7), (3, 4), (5, 6), (4, 5)),
}


def _sorts_all_01(n: int, pairs) -> bool:
    for x in range(1 << n):
        w = [(x >> i) & 1 for i in range(n)]
        for u, v in pairs:
            if w[u] > w[v]:
                w[u], w[v] = w[v], w[u]
        if any(w[i] > w[i + 1] for i in range(n - 1)):
            return False
    return True


def _prune(pairs_with_inf, size: int, n: int, k: int) -> Tuple[Tuple[str, int, int], ...]:
    """Fold +inf padding wires (>= n) away and drop comparators not feeding wires 0..k-1."""
    is_inf = [w >= n for w in range(size)]
    ops: List[Tuple[str, int, int]] = []
    for u, v in pairs_with_inf:
        if is_inf[v]:
            continue  # min(x, inf) = x stays on u, inf stays on v
        if is_inf[u]:
            ops.append(('swap', u, v))
            is_inf[u], is_inf[v] = False, True
            continue
        ops.append(('cmp', u, v))
    live = [w < k for w in range(size)]
    kept: List[Tuple[str, int, int]] = []
    for kind, u, v in reversed(ops):
        if kind == 'swap':
            live[u], live[v] = live[v], live[u]
            kept.append((kind, u, v))
            continue
        lu, lv = live[u], live[v]
        if not (lu or lv):
            continue
        kept.append(('both' if (lu and lv) else ('min' if lu else 'max'), u, v))
        live[u] = live[v] = True
    return tuple(reversed(kept))


def network_cost(ops) -> int:
    """Elementwise tensor ops executed by a network."""
    return sum(2 if kind == 'both' else (0 if kind == 'swap' else 1) for kind, _, _ in ops)


@functools.lru_cache(maxsize=256)
def selection_network(n: int, k: int) -> Tuple[Tuple[str, int, int], ...]:
    """A comparator network leaving the ``k`` smallest of ``n`` inputs sorted on wires ``0..k-1``.

    The cheaper of: Batcher's odd-even merge sort on the next power of two, and (for a few small n)
    a sorting network with the fewest known comparators; in both, padding wires (+inf) are folded
    away and every comparator that cannot influence wires ``0..k-1`` is removed (a comparator whose
    max output is dead only needs a ``min`` and vice versa). Ops are tuples ``(kind, u, v)`` with
    ``kind`` in ``'both' | 'min' | 'max' | 'swap'`` (``swap`` = relabel, free).
    """
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f'selection_network needs 1 <= k <= n, got n={n}, k={k}')
    size = 1
    while size < n:
        size *= 2
    best = _prune(_batcher_pairs(size), size, n, k)
    small = _SMALL_SORTERS.get(n)
    if small is not None and _sorts_all_01(n, small):
        alt = _prune(small, n, n, k)
        if network_cost(alt) < network_cost(best):
            best = alt
    return best


@functools.lru_cache(maxsize=256)
def kmin_sum_plan(n: int, k: int) -> Tuple:
    """Cheapest way to get the *sum* (and the k-th value) of the k smallest of n planes.

    ``('single', ops)``: one selection network, then add the k sorted planes.
    ``('split', n1, ops_a, ops_b)``: sort the k smallest of the first ``n1`` and of the other
    ``n - n1`` planes separately; the k smallest of the union are then exactly
    ``min(A[s], B[k-1-s])``, s = 0..k-1 (A, B ascending, missing entries = +inf).
    """
    single = selection_network(n, k)
    best, best_cost = ('single', single), network_cost(single) + k
    for n1 in range((n + 1) // 2, n):
        n2 = n - n1
        ops_a = selection_network(n1, min(k, n1))
        ops_b = selection_network(n2, min(k, n2))
        cost = network_cost(ops_a) + network_cost(ops_b) + 3 * k
        if cost < best_cost:
            best, best_cost = ('split', n1, ops_a, ops_b), cost
    return best


def plan_cost(n: int, k: int) -> int:
    plan = kmin_sum_plan(n, k)
    if plan[0] == 'single':
        return network_cost(plan[1]) + k
    return network_cost(plan[2]) + network_cost(plan[3]) + 3 * k


def _run_network(wires: List[Optional[torch.Tensor]], ops, spare: torch.Tensor) -> torch.Tensor:
    for kind, u, v in ops:
        a, b = wires[u], wires[v]
        if kind == 'swap':
            wires[u], wires[v] = b, a
        elif kind == 'both':
            torch.minimum(a, b, out=spare)
            torch.maximum(a, b, out=b)
            wires[u], spare = spare, a
        elif kind == 'min':
            torch.minimum(a, b, out=a)
        else:
            torch.maximum(a, b, out=b)
    return spare


def kmin_sum_planes(planes: List[torch.Tensor], k: int, spare: torch.Tensor, acc: torch.Tensor,
                    kth: Optional[torch.Tensor] = None) -> None:
    """``acc`` <- elementwise sum of the ``k`` smallest of ``planes``; ``kth`` (optional) <- the
    k-th smallest value. ``planes`` are overwritten; ``spare`` is scratch of the same shape."""
    n = len(planes)
    plan = kmin_sum_plan(n, k)
    if plan[0] == 'single':
        S = kmin_planes(planes, k, spare)
        sum_planes_sequential(S, acc)
        if kth is not None:
            kth.copy_(S[k - 1])
        return
    _, n1, ops_a, ops_b = plan

    def padded(ps):
        size = 1
        while size < len(ps):
            size *= 2
        return list(ps) + [None] * (size - len(ps))

    A, B = padded(planes[:n1]), padded(planes[n1:])
    spare = _run_network(A, ops_a, spare)
    spare = _run_network(B, ops_b, spare)
    ka, kb = min(k, n1), min(k, n - n1)
    for s in range(k):
        a = A[s] if s < ka else None
        b = B[k - 1 - s] if k - 1 - s < kb else None
        if a is not None and b is not None:
            x = torch.minimum(a, b, out=spare if s else acc)
        else:
            x = a if a is not None else b
            if s == 0:
                acc.copy_(x)
        if s:
            acc.add_(x)
        if kth is not None:
            if s == 0:
                kth.copy_(x)
            else:
                torch.maximum(kth, x, out=kth)


def kmin_planes(planes: List[torch.Tensor], k: int, spare: torch.Tensor) -> List[torch.Tensor]:
    """Run :func:`selection_network` in place on ``planes`` (same shape, distinct storage).

    ``spare`` is a scratch tensor of the same shape. Returns the list of the ``k`` planes holding
    the elementwise ``k`` smallest values in ascending order (plane 0 = minimum).
    """
    wires: List[Optional[torch.Tensor]] = list(planes)
    size = 1
    while size < len(wires):
        size *= 2
    wires += [None] * (size - len(wires))
    _run_network(wires, selection_network(len(planes), k), spare)
    return [w for w in wires[:k]]  # type: ignore[misc]


def sum_planes_sequential(planes: Sequence[torch.Tensor], out: torch.Tensor) -> torch.Tensor:
    """``out = planes[0] + planes[1] + ...`` summed left to right (fixed rounding order)."""
    out.copy_(planes[0])
    for p in planes[1:]:
        out.add_(p)
    return out


# --------------------------------------------------------------------------------------------------
# k-reciprocal neighbour sets
# --------------------------------------------------------------------------------------------------
def reciprocal_sets(ranks: torch.Tensor, k: int, budget: int) -> torch.Tensor:
    """k-reciprocal sets from rank lists.

    ``ranks`` is ``(N, >= k+1)``: row ``r`` lists item ``r``'s neighbours (column indices in the
    same index space as the rows), nearest first. Returns ``(N, k+1)`` long: slot ``s`` holds
    ``ranks[r, s]`` when ``r`` is among the first ``k+1`` neighbours of ``ranks[r, s]``, else -1
    (forward order kept, as in Zhong et al.'s code).
    """
    n_rows = ranks.shape[0]
    fwd = ranks[:, :k + 1]
    out = torch.empty_like(fwd)
    per_row = fwd.shape[1] * fwd.shape[1]
    for r0, r1 in row_chunks(n_rows, per_row, budget):
        f = fwd[r0:r1]
        back = fwd[f]  # (c, k+1, k+1)
        me = torch.arange(r0, r1, device=ranks.device).view(-1, 1, 1)
        ok = (back == me).any(-1)
        out[r0:r1] = torch.where(ok, f, torch.full_like(f, -1))
    return out


def expand_reciprocal_sets(rec: torch.Tensor, rec_half: torch.Tensor, budget: int) -> torch.Tensor:
    """Zhong et al.'s expansion: ``R* = R(r) U R_half(c)`` for each ``c`` in ``R(r)`` whose half set
    overlaps ``R(r)`` in more than 2/3 of its members (``|R_half(c) & R(r)| > 2/3 |R_half(c)|``).

    ``rec`` ``(N, L)`` and ``rec_half`` ``(N, H)`` are padded sets (-1 = empty). Returns a padded
    ``(N, L + L*H)`` tensor whose valid entries (>= 0) are the expanded set, sorted ascending and
    without duplicates (like ``np.unique``), padded with -1 at the end.
    """
    n_rows, L = rec.shape
    H = rec_half.shape[1]
    width = L + L * H
    out = torch.empty((n_rows, width), dtype=torch.long, device=rec.device)
    sentinel = torch.iinfo(torch.long).max
    for r0, r1 in row_chunks(n_rows, L * H * L + width, budget):
        R = rec[r0:r1]  # (c, L)
        valid_c = R >= 0
        half = rec_half[R.clamp(min=0)]  # (c, L, H)
        valid_h = half >= 0
        hits = ((half.unsqueeze(-1) == R.view(R.shape[0], 1, 1, L)).any(-1) & valid_h).sum(-1)
        size_h = valid_h.sum(-1)
        # Same float test as the reference code: len(intersect) > 2. / 3 * len(candidate set).
        take = valid_c & (hits.to(torch.float64) > (2.0 / 3.0) * size_h.to(torch.float64))
        extra = torch.where(take.unsqueeze(-1) & valid_h, half, torch.full_like(half, -1))
        cat = torch.cat([R, extra.reshape(R.shape[0], L * H)], dim=1)
        cat = torch.where(cat >= 0, cat, torch.full_like(cat, sentinel))
        cat, _ = cat.sort(dim=1)
        dup = torch.zeros_like(cat, dtype=torch.bool)
        dup[:, 1:] = cat[:, 1:] == cat[:, :-1]
        keep = (~dup) & (cat != sentinel)
        # compact: valid entries first (they are already ascending), then -1
        key = torch.where(keep, torch.zeros_like(cat), torch.ones_like(cat))
        key, perm = key.sort(dim=1, stable=True)
        cat = cat.gather(1, perm)
        out[r0:r1] = torch.where(key == 0, cat, torch.full_like(cat, -1))
    # trim trailing all-empty columns
    valid_cols = int((out >= 0).sum(1).max().item()) if n_rows else 0
    return out[:, :max(valid_cols, 1)].contiguous()


# --------------------------------------------------------------------------------------------------
# Sparse rows and the min-sum (generalised Jaccard numerator)
# --------------------------------------------------------------------------------------------------
class SparseRows:
    """CSR rows: ``ptr`` (R+1,), ``col`` (nnz,) ascending within each row, ``val`` (nnz,)."""

    def __init__(self, ptr: torch.Tensor, col: torch.Tensor, val: torch.Tensor, n_cols: int):
        self.ptr, self.col, self.val, self.n_cols = ptr, col, val, int(n_cols)

    @property
    def n_rows(self) -> int:
        return self.ptr.numel() - 1

    def row_ids(self) -> torch.Tensor:
        counts = self.ptr[1:] - self.ptr[:-1]
        return torch.repeat_interleave(torch.arange(self.n_rows, device=self.ptr.device), counts)

    def normalise_rows_(self) -> 'SparseRows':
        """Divide each row by its sum (rows of positive weights)."""
        rows = self.row_ids()
        sums = torch.zeros(self.n_rows, dtype=self.val.dtype, device=self.val.device)
        sums.index_add_(0, rows, self.val)
        self.val = self.val / sums[rows]
        return self


def padded_to_sparse(idx: torch.Tensor, val: Optional[torch.Tensor], n_cols: int,
                     dtype: torch.dtype = torch.float32) -> SparseRows:
    """Padded sets ``idx`` (R, L) (-1 = empty) with optional values -> CSR sorted by column."""
    R, L = idx.shape
    key = torch.where(idx >= 0, idx, torch.full_like(idx, n_cols))
    key, perm = key.sort(dim=1, stable=True)
    if val is None:
        val = torch.ones(idx.shape, dtype=dtype, device=idx.device)
    val = val.gather(1, perm)
    mask = key < n_cols
    counts = mask.sum(1)
    ptr = torch.zeros(R + 1, dtype=torch.long, device=idx.device)
    ptr[1:] = counts.cumsum(0)
    return SparseRows(ptr, key[mask], val[mask], n_cols)


class _ColumnIndex:
    """Inverted index (CSC) of a :class:`SparseRows` matrix."""

    def __init__(self, rows: SparseRows):
        order = torch.argsort(rows.col, stable=True)
        self.row = rows.row_ids()[order]
        self.val = rows.val[order]
        counts = torch.bincount(rows.col, minlength=rows.n_cols)
        self.count = counts
        self.start = torch.zeros(rows.n_cols + 1, dtype=torch.long, device=rows.col.device)
        self.start[1:] = counts.cumsum(0)
        self.n_rows = rows.n_rows


def sparse_min_sum(a: SparseRows, b: SparseRows, budget: int, row_range=None,
                   out: Optional[torch.Tensor] = None,
                   b_index: Optional[_ColumnIndex] = None
                   ) -> Iterator[Tuple[int, int, torch.Tensor]]:
    """Yield ``(r0, r1, S)`` with ``S[i - r0, j] = sum_t min(a[i, t], b[j, t])`` for rows
    ``r0 <= i < r1`` of ``a`` and all rows ``j`` of ``b``.

    Only (i, j) pairs sharing a column are visited (inverted index of ``b``); per chunk at most
    ``budget`` (entry of a, entry of b) pairs and ``budget`` output elements are materialised.
    Within one (i, j) the terms are added in ascending column order of ``a``'s row.
    """
    if a.n_cols != b.n_cols:
        raise ValueError('sparse_min_sum: column spaces differ')
    cidx = b_index if b_index is not None else _ColumnIndex(b)
    device = a.col.device
    n_b = cidx.n_rows
    lo, hi = (0, a.n_rows) if row_range is None else row_range
    # pairs generated by each row of a
    entry_pairs = cidx.count[a.col]
    cum = torch.zeros(a.col.numel() + 1, dtype=torch.long, device=device)
    cum[1:] = entry_pairs.cumsum(0)
    row_pairs = (cum[a.ptr[1:]] - cum[a.ptr[:-1]]).cpu()
    max_rows_out = max(1, budget // max(1, n_b))
    r0 = lo
    while r0 < hi:
        # grow the chunk while the pair count stays within budget
        r1, acc = r0, 0
        while r1 < hi and r1 - r0 < max_rows_out:
            p = int(row_pairs[r1])
            if r1 > r0 and acc + p > budget:
                break
            acc += p
            r1 += 1
        S = torch.zeros((r1 - r0, n_b), dtype=a.val.dtype, device=device) if out is None \
            else out[:r1 - r0].zero_()
        e0, e1 = int(a.ptr[r0]), int(a.ptr[r1])
        if e1 > e0 and acc > 0:
            cols = a.col[e0:e1]
            cnt = cidx.count[cols]
            rows_local = torch.repeat_interleave(
                torch.arange(r1 - r0, device=device), a.ptr[r0 + 1:r1 + 1] - a.ptr[r0:r1])
            rep = torch.repeat_interleave(torch.arange(e1 - e0, device=device), cnt)
            first = torch.cumsum(cnt, 0) - cnt
            pos = cidx.start[cols][rep] + (torch.arange(rep.numel(), device=device) - first[rep])
            contrib = torch.minimum(a.val[e0:e1][rep], cidx.val[pos].to(a.val.dtype))
            flat = rows_local[rep] * n_b + cidx.row[pos]
            S.view(-1).index_add_(0, flat, contrib)
        yield r0, r1, S
        r0 = r1
