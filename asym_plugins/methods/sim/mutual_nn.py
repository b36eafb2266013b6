"""SIM step 2: mutual nearest-neighbour inference, ``d_M`` (torch only; no mmengine/torchreid).

All neighbour sets are sparse (index tensors / CSR); the Jaccard numerators are computed through an
inverted index over gallery columns, so no dense ``Ng x Ng`` float matrix is ever built.

``official`` (released code, docs/sim.md "Method" 2-3), Zhong et al.'s weighted form
    * inputs are squared distances cast to float32 and divided by their row maximum
      (:func:`released_normalise`): ``dS_n[i, :]`` from ``d_S`` and ``Dgg_n[j, :]`` from the
      *column* ``j`` of ``D_gg`` (the released code's layout; the same for symmetric ``D_gg``);
    * query side: the first ``k_q + 1`` gallery items of each query under ``dS_n`` (plain k-NN);
    * gallery side: the k-reciprocal set of ``g_j`` under ``Dgg_n`` (its first ``k_g + 1`` items,
      kept when ``g_j`` is among *their* first ``k_g + 1``), expanded by each member's own
      k-reciprocal set built with ``round(k_g / 2) + 1`` neighbours (round half to even, like
      ``numpy.around``) when more than 2/3 of that set lies in ``g_j``'s set;
    * each set becomes a float32 weight vector ``exp(-dS_n[i, t])`` / ``exp(-Dgg_n[j, t])``
      normalised to sum 1;
    * ``d_M = 1 - S / (2 - S)`` with ``S[i, j] = sum_t min(V_q[i, t], V_g[j, t])`` (float32).
    Neighbour sets with a tie across their boundary follow ``numpy.argsort`` (``ties='numpy'``)
    or the lower index (``'stable'``).

``equations`` (slides, eqs. (6)-(7))
    * ``N_c(q_i)`` = the ``k_q`` nearest gallery items of ``q_i`` under ``d_S``;
    * ``R*(g_j)`` = the k-reciprocal set of ``g_j`` within the gallery under ``D_gg``:
      **[ours]** ``N(g, k_g)`` is ``g`` itself (always ranked first) plus its ``k_g`` nearest other
      gallery items, as in Zhong et al.'s code, and ``R*(g_j) = {g_t in N(g_j, k_g) :
      g_j in N(g_t, k_g)}``; optional Zhong-style expansion (``expand=True``), off by default;
    * ``d_M = 1 - |N_c & R*| / |N_c | R*|`` (plain Jaccard).
"""
from __future__ import annotations

from typing import Iterator, Optional, Tuple

import torch

from ._kernels import (
    SparseRows,
    _ColumnIndex,
    expand_reciprocal_sets,
    numpy_tie_order_,
    padded_to_sparse,
    reciprocal_sets,
    row_chunks,
    sparse_min_sum,
    topk_smallest,
)

__all__ = ['half_k', 'released_normalise', 'released_query_weights', 'released_gallery_weights',
           'query_knn_sets', 'equations_gallery_ranks',
           'gallery_reciprocal_sets', 'weighted_jaccard_chunks', 'set_jaccard_chunks']


def half_k(k: int) -> int:
    """``round(k / 2)`` with round-half-to-even (``int(numpy.around(k / 2.))``)."""
    return int(round(k / 2.0))


def query_knn_sets(d: torch.Tensor, k: int, budget: int) -> SparseRows:
    """Equations query side ``N_c``: the ``k`` nearest gallery items of each row (weights 1)."""
    nq, ng = d.shape
    k = min(k, ng)
    idx = torch.empty((nq, k), dtype=torch.long, device=d.device)
    for r0, r1 in row_chunks(nq, ng, budget):
        idx[r0:r1] = topk_smallest(d[r0:r1], k)[1]
    return padded_to_sparse(idx, None, ng, dtype=d.dtype)


def released_normalise(d: torch.Tensor, budget: int, half: bool = False,
                       row_max: Optional[torch.Tensor] = None,
                       transposed: bool = False) -> torch.Tensor:
    """The released fusion input (docs/sim.md, Method 2): ``fl32(d**2) / max_row fl32(d**2)``.

    The square is taken in ``d``'s dtype (float16 values when ``half``: ``fl16(d * d)``, as numpy
    squares a float16 array) and cast to float32 before the division, as the released code
    does; the result is a new float32 ``(rows, cols)`` tensor. ``row_max`` (optional,
    ``(rows, 1)`` float32) receives each row's ``max fl32(d**2)``. ``transposed``: ``d`` is
    given as its contiguous transpose ``(cols, rows)`` (the result is still ``(rows, cols)``).
    """
    shape = (d.shape[1], d.shape[0]) if transposed else tuple(d.shape)
    out = torch.empty(shape, dtype=torch.float32, device=d.device)
    # small blocks: the square's scratch stays in cache and is reused, not freshly mapped
    for r0, r1 in row_chunks(d.shape[0], d.shape[1], min(budget, _SCRATCH_ELEMS)):
        x = d[r0:r1]
        sq = x * x
        if half:
            sq = sq.to(torch.float16)
        if transposed:
            out[:, r0:r1].copy_(sq.t())
        else:
            out[r0:r1].copy_(sq)
    for r0, r1 in row_chunks(shape[0], shape[1], budget):
        o = out[r0:r1]
        m = torch.amax(o, dim=1, keepdim=True)
        if bool((m <= 0).any()):
            raise ValueError('a row of distances is all zeros (after squaring); cannot normalise '
                             'it by its maximum')
        o.div_(m)
        if row_max is not None:
            row_max[r0:r1] = m
    return out


#: Elements of the scratch blocks of the elementwise passes (2 MiB in float64).
_SCRATCH_ELEMS = 1 << 18


def _first_sets(x: torch.Tensor, sizes, ties: str, np_dtype=None) -> torch.Tensor:
    """Indices of the ``max(sizes)`` smallest entries of each row of ``x`` whose first ``s``
    columns (``s`` in ``sizes``) are the released code's sets (see :func:`numpy_tie_order_`)."""
    k = min(max(sizes), x.shape[1])
    vals, idx = topk_smallest(x, min(k + 1, x.shape[1]))
    if ties == 'numpy':
        numpy_tie_order_(x, idx, vals, sizes, np_dtype)
    return idx[:, :k]


def released_query_weights(dn: torch.Tensor, k: int, budget: int, ties: str = 'numpy'
                           ) -> SparseRows:
    """Released query side: the first ``k`` (``= k_q + 1``) gallery items of each row of the
    float32 ``dn``, weights ``exp(-dn)`` normalised to sum 1 (float32)."""
    nq, ng = dn.shape
    k = min(k, ng)
    idx = torch.empty((nq, k), dtype=torch.long, device=dn.device)
    val = torch.empty((nq, k), dtype=dn.dtype, device=dn.device)
    for r0, r1 in row_chunks(nq, ng, budget):
        x = dn[r0:r1]
        i = _first_sets(x, (k,), ties)
        idx[r0:r1], val[r0:r1] = i, torch.exp(-x.gather(1, i))
    return padded_to_sparse(idx, val, ng).normalise_rows_()


def released_gallery_weights(gg_rows: torch.Tensor, k_g: int, budget: int, ties: str = 'numpy',
                             half: bool = False, columns: bool = False) -> SparseRows:
    """Released gallery side: expanded k-reciprocal sets under ``Dgg_n``
    (:func:`released_normalise` of ``gg_rows``, whose row ``j`` is ``g_j``'s distances; the
    released code uses the columns of ``D_gg``: pass ``D_gg`` with ``columns=True``, no copy),
    weights ``exp(-Dgg_n[j, t])`` normalised to sum 1 (float32)."""
    ng = gg_rows.shape[0]
    rows_view = gg_rows.t() if columns else gg_rows
    kh = half_k(k_g)
    sizes = (k_g + 1, kh + 1)
    width = min(k_g + 1, ng)
    ranks = torch.empty((ng, width), dtype=torch.long, device=gg_rows.device)
    rowmax = torch.empty((ng, 1), dtype=torch.float32, device=gg_rows.device)
    for r0, r1 in row_chunks(ng, ng, budget):
        # max fl32(sq) = fl32(max sq): rounding is monotone
        block = gg_rows[:, r0:r1] if columns else gg_rows[r0:r1]
        x = released_normalise(block, budget, half, row_max=rowmax[r0:r1], transposed=columns)
        ranks[r0:r1] = _first_sets(x, sizes, ties)
    sets = _reciprocal(ranks, k_g, True, budget)
    rows = torch.arange(ng, device=sets.device).unsqueeze(1).expand_as(sets)
    g = rows_view[rows, sets.clamp(min=0)]
    sq = g * g
    if half:
        sq = sq.to(torch.float16)
    d = sq.float() / rowmax
    w = torch.where(sets >= 0, torch.exp(-d), torch.zeros_like(d))
    return padded_to_sparse(sets, w, ng).normalise_rows_()


def equations_gallery_ranks(dist_gg: torch.Tensor, k_rank: int, budget: int) -> torch.Tensor:
    """``(Ng, k_rank)`` nearest gallery items under ``D_gg`` with each item itself forced first."""
    ng = dist_gg.shape[0]
    k_rank = min(k_rank, ng)
    ranks = torch.empty((ng, k_rank), dtype=torch.long, device=dist_gg.device)
    for r0, r1 in row_chunks(ng, ng, budget):
        x = dist_gg[r0:r1].clone()
        ar = torch.arange(r1 - r0, device=x.device)
        x[ar, ar + r0] = float('-inf')
        ranks[r0:r1] = topk_smallest(x, k_rank)[1]
    return ranks


def _reciprocal(ranks: torch.Tensor, k: int, expand: bool, budget: int) -> torch.Tensor:
    rec = reciprocal_sets(ranks, min(k, ranks.shape[1] - 1), budget)
    if not expand:
        return rec
    kh = half_k(k)
    rec_half = reciprocal_sets(ranks, min(kh, ranks.shape[1] - 1), budget)
    return expand_reciprocal_sets(rec, rec_half, budget)


def gallery_reciprocal_sets(ranks: torch.Tensor, k_g: int, budget: int, dtype: torch.dtype,
                            expand: bool = False) -> SparseRows:
    """Equations gallery side ``R*``: (optionally expanded) k-reciprocal sets, weights 1."""
    sets = _reciprocal(ranks, k_g, expand, budget)
    return padded_to_sparse(sets, None, ranks.shape[0], dtype=dtype)


def weighted_jaccard_chunks(vq: SparseRows, vg: SparseRows, budget: int
                            ) -> Iterator[Tuple[int, int, torch.Tensor]]:
    """Yield ``(r0, r1, d_M[r0:r1])``: ``d_M = 1 - S / (2 - S)``, ``S = sum_t min(V_q, V_g)``."""
    cidx = _ColumnIndex(vg)
    for r0, r1, S in sparse_min_sum(vq, vg, budget // 4, b_index=cidx):
        yield r0, r1, 1 - S / (2 - S)


def set_jaccard_chunks(nq_sets: SparseRows, rg_sets: SparseRows, budget: int
                       ) -> Iterator[Tuple[int, int, torch.Tensor]]:
    """Yield ``(r0, r1, d_M[r0:r1])`` with ``d_M = 1 - |N & R| / |N | R|`` (plain Jaccard)."""
    cidx = _ColumnIndex(rg_sets)
    size_q = (nq_sets.ptr[1:] - nq_sets.ptr[:-1]).to(nq_sets.val.dtype)
    size_g = (rg_sets.ptr[1:] - rg_sets.ptr[:-1]).to(nq_sets.val.dtype)
    for r0, r1, inter in sparse_min_sum(nq_sets, rg_sets, budget // 4, b_index=cidx):
        union = size_q[r0:r1].unsqueeze(1) + size_g.unsqueeze(0) - inter
        yield r0, r1, 1 - inter / union
