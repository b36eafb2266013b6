"""Streaming SIM from features: large galleries in bounded memory, sharded over ranks.

:func:`similarity_inference_features` computes what :func:`~.api.similarity_inference` computes
from ``compute_distance`` matrices of the same features, without ever holding an ``(Nq, Ng)`` or
``(Ng, Ng)`` matrix (docs/sim.md, "Large galleries"):

1. **Gallery structure, once, in row tiles** of ``D_gg`` computed from the features:
   official mode: the graph neighbours ``T``/``B`` of every gallery item (Method 1), each
   row's maximum squared distance (the normalisation, Method 2), the
   ``k_g + 1`` forward lists and from them the expanded k-reciprocal sets with their
   ``exp(-Dgg_n)`` weights (Method 3); equations mode: the ``k_g + 1`` rank lists, the
   reciprocal sets and each item's nearest other gallery item (the certificate bound).
2. **Queries in chunks**: the chunk's query-gallery distances, the graph step (exact: queries
   never interact, the sequential update runs over gallery columns for every query of the chunk),
   the normalisation, the weighted mutual-NN term, the fusion, then the chunk is **evaluated**
   (CMC/mAP/mINP with the market exclusion rule; the per-query statistics are accumulated and
   summarised exactly as ``evaluate_rank`` does over all queries) and its top-k ranking kept.

Peak memory is ``O(chunk x Ng + Ng x k)``; the chunk size follows from ``memory_budget``. Under
``torch.distributed`` each rank computes a contiguous slice of the gallery rows (the ranks
exchange them: the structure is built once, shared) and takes a contiguous slice of the queries;
the per-query statistics and top-k lists are gathered, so every rank returns the metrics one
process would compute. ``neighbours='faiss'`` / ``'faiss-approx'`` let faiss propose each gallery
row's candidates (:mod:`.faiss_index`).

Distances are those of :func:`asym_plugins.evaluation.compute_distance` (Euclidean of
L2-normalised features by default, as the released code), computed per row block with at least
:data:`MIN_GEMM_ROWS` rows so the matrix product rounds as it does for the whole matrix.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np
import torch

from ...evaluation.distance import compute_distance, l2_normalize
from ...progress import progress as _progress
from ._kernels import (
    MAX_DISTANCE,
    SparseRows,
    _ColumnIndex,
    _raw_kmin,
    check_distances,
    expand_reciprocal_sets,
    numpy_tie_order_,
    padded_to_sparse,
    reciprocal_sets,
    row_chunks,
    sparse_min_sum,
    topk_smallest,
)
from .api import _HALF_LIMIT, _check_K, _cosine_to_distance, _to_half_values, resolve_sim_params
from .api_utils import single_thread
from .faiss_index import NEIGHBOURS, FaissNeighbours, FaissParams
from .graph_inference import (
    graph_neighbours_tile,
    official_graph_distance,
    sequential_graph_distance,
)
from .mutual_nn import half_k, query_knn_sets, released_normalise, released_query_weights

__all__ = ['similarity_inference_features', 'StreamResult', 'parse_memory', 'MIN_GEMM_ROWS',
           'BudgetedReranker', 'GalleryFeatures', 'gallery_stand_in']

#: Rows of every feature matrix product: BLAS kernels for 1-11 rows round differently from the
#: blocked kernel used for the whole matrix (measured with MKL/OpenBLAS, 1 and 2 threads).
MIN_GEMM_ROWS = 32
#: ``compute_distance``'s own query chunk: the dense path's row blocks.
_DENSE_BLOCK = 4096
#: Cached nearest distances per gallery row (the expanded sets' weights are read from them).
_CACHE_FACTOR = 3


@dataclass
class StreamResult:
    """What :func:`similarity_inference_features` returns.

    ``metrics``: :class:`~asym_plugins.evaluation.rank.RankResult` over all queries (None without
    ids); ``topk_index`` / ``topk_distance``: ``(Nq, k)`` gallery indices and re-ranked distances,
    nearest first (stable order; None when ``topk=0``); ``distances``: the full ``(Nq, Ng)``
    re-ranked matrix only with ``return_distances=True`` (small problems, tests);
    ``chunk_queries`` / ``num_chunks`` / ``tile_rows``: the plan the budget gave;
    ``seconds``: wall time per stage (``gallery``, ``queries``).
    """
    metrics: object = None
    topk_index: Optional[np.ndarray] = None
    topk_distance: Optional[np.ndarray] = None
    distances: Optional[np.ndarray] = None
    chunk_queries: int = 0
    num_chunks: int = 0
    tile_rows: int = 0
    seconds: Dict[str, float] = field(default_factory=dict)


_UNITS = {'': 1, 'b': 1, 'k': 1 << 10, 'kb': 1 << 10, 'kib': 1 << 10, 'm': 1 << 20,
          'mb': 1 << 20, 'mib': 1 << 20, 'g': 1 << 30, 'gb': 1 << 30, 'gib': 1 << 30,
          't': 1 << 40, 'tb': 1 << 40, 'tib': 1 << 40}


def parse_memory(x: Union[int, float, str]) -> int:
    """Bytes from ``4GB`` / ``512MiB`` / ``1e9`` (binary units: 1 GB = 2**30 bytes)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        if x <= 0:
            raise ValueError(f'memory_budget must be > 0 bytes, got {x}')
        return int(x)
    m = re.fullmatch(r'\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*', str(x))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"memory_budget must be a size such as '4GB', '512MB' or a number of "
                         f'bytes, got {x!r}')
    n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise ValueError(f'memory_budget must be > 0 bytes, got {x!r}')
    return n


def _fmt_bytes(n: float) -> str:
    for unit in ('B', 'KB', 'MB', 'GB', 'TB'):
        if abs(n) < 1024 or unit == 'TB':
            return f'{n:.1f} {unit}' if unit != 'B' else f'{int(n)} B'
        n /= 1024.0


# ------------------------------------------------------------------------------ distances
class _Distance:
    """Row blocks of ``compute_distance(X, Y)`` rounded as in the dense matrix (see module), or
    of a user's ``fn(X_rows, Y)``."""

    def __init__(self, metric: str, normalize: bool, fn: Optional[Callable] = None,
                 similarity: bool = False):
        self.metric, self.normalize, self.fn = metric, normalize, fn
        self.similarity = similarity

    def prepare(self, f: torch.Tensor) -> torch.Tensor:
        return l2_normalize(f) if self.normalize and self.fn is None else f

    def _call(self, X, Y):
        d = self.fn(X, Y)
        d = torch.as_tensor(d)
        if d.shape != (X.shape[0], Y.shape[0]):
            raise ValueError(f'distance_fn returned shape {tuple(d.shape)} for '
                             f'{X.shape[0]} x {Y.shape[0]} features')
        d = d.to(device=X.device, dtype=X.dtype)
        if self.similarity:  # cosine similarities -> sqrt(2 - 2 s), as the dense path
            d = _cosine_to_distance(d, 'the gallery-gallery similarities', 1 << 22)
        return d

    def rows(self, X: torch.Tensor, r0: int, r1: int, Y: torch.Tensor) -> torch.Tensor:
        """``D[r0:r1]`` of ``D = compute_distance(X, Y)`` (the dense path's row blocks)."""
        if self.fn is not None:
            return self._call(X[r0:r1], Y)
        n = X.shape[0]
        parts = []
        s = r0
        while s < r1:
            b0 = (s // _DENSE_BLOCK) * _DENSE_BLOCK
            b1 = min(n, b0 + _DENSE_BLOCK)
            e = min(r1, b1)
            w0 = max(b0, min(s, b1 - MIN_GEMM_ROWS))
            w1 = min(b1, max(e, w0 + MIN_GEMM_ROWS))
            d = compute_distance(X[w0:w1], Y, self.metric, chunk_size=w1 - w0)
            parts.append(d[s - w0:e - w0])
            s = e
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def columns(self, Y: torch.Tensor):
        """``Y`` prepared once for :meth:`pick_columns` (built-in metrics only): the cosine's
        normalised rows, or the rows with their squared norms (``compute_distance``'s own
        per-row values)."""
        if self.metric == 'cosine':
            return l2_normalize(Y), None
        return Y, Y.pow(2).sum(dim=1)

    def pick_columns(self, X: torch.Tensor, idx: torch.Tensor, cols_of, cols: torch.Tensor):
        """``compute_distance(X, Y)[idx][:, cols]`` with ``cols_of = columns(Y)``: the same
        arithmetic on a product of at least MIN_GEMM_ROWS rows, without re-checking and
        re-normalising the gathered columns."""
        m = idx.numel()
        if m < MIN_GEMM_ROWS and X.shape[0] > m:
            pad = torch.arange(min(X.shape[0], MIN_GEMM_ROWS), device=idx.device)
            idx = torch.cat([idx, pad])
        Yp, y_sq = cols_of
        q = X[idx]
        out = torch.empty((q.shape[0], cols.numel()), dtype=q.dtype, device=q.device)
        if self.metric == 'cosine':
            torch.matmul(l2_normalize(q), Yp[cols].t(), out=out)
            out.neg_().add_(1.0)
        else:
            torch.addmm(q.pow(2).sum(dim=1, keepdim=True) + y_sq[cols][None], q, Yp[cols].t(),
                        beta=1.0, alpha=-2.0, out=out)
            out.clamp_(min=0)
            if self.metric == 'euclidean':
                out.sqrt_()
        return out[:m]

    def pick(self, X: torch.Tensor, idx: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` of ``compute_distance(X, Y)`` (a product of at least MIN_GEMM_ROWS rows)."""
        m = idx.numel()
        if self.fn is not None:
            return self._call(X[idx], Y)
        if m >= MIN_GEMM_ROWS or X.shape[0] <= m:
            return compute_distance(X[idx], Y, self.metric, chunk_size=max(1, m))
        pad = torch.arange(min(X.shape[0], MIN_GEMM_ROWS), device=idx.device)
        d = compute_distance(X[torch.cat([idx, pad])], Y, self.metric,
                             chunk_size=m + pad.numel())
        return d[:m]


# ------------------------------------------------------------------------------ gallery side
@dataclass
class _Gallery:
    ng: int
    # official: graph neighbours and edge weights, gallery weights
    T: Optional[torch.Tensor] = None
    B: Optional[torch.Tensor] = None
    vg: Optional[SparseRows] = None
    # equations
    bmin: Optional[torch.Tensor] = None
    rg: Optional[SparseRows] = None
    size_g: Optional[torch.Tensor] = None
    cidx: Optional[_ColumnIndex] = None


def _build_gallery(gf, dist: _Distance, p: Dict, tile: int, budget_elems: int, bar,
                   index=None, margin: Optional[int] = None, world: int = 1,
                   rank: int = 0) -> _Gallery:
    """The gallery structure (module docstring, step 1). ``index``: a
    :class:`~.faiss_index.FaissNeighbours` proposing each row's candidates (else whole rows of
    ``D_gg`` in tiles). ``world > 1``: this rank computes its slice of the gallery rows and the
    ranks exchange them, so every rank holds the whole structure."""
    ng = gf.shape[0]
    dev = gf.device
    official = p['mode'] == 'official'
    half = p.get('input_dtype') == 'float16'
    limit = _HALF_LIMIT if half else MAX_DISTANCE
    what = "SIM (input_dtype='float16')" if half else 'SIM'
    G = _Gallery(ng)
    k_g = min(p['k_g'], ng)
    width = min(p['k_g'] + 1, ng)
    ranks = torch.empty((ng, width), dtype=torch.long, device=dev)
    need_graph = official and p['components'] != 'mutual'
    need_mutual = p['components'] != 'graph'
    shared = [ranks]
    if need_graph:
        n = min(p['n_graph'], ng)
        G.T = torch.empty((ng, n), dtype=torch.long, device=dev)
        G.B = torch.empty((ng, n), dtype=gf.dtype, device=dev)
        shared += [G.T, G.B]
    if official and need_mutual:
        m_cache = min(ng, _CACHE_FACTOR * (p['k_g'] + 1))
        c_idx = torch.empty((ng, m_cache), dtype=torch.long, device=dev)
        c_val = torch.empty((ng, m_cache), dtype=gf.dtype, device=dev)
        rowmax = torch.empty((ng, 1), dtype=torch.float32, device=dev)
        sizes = (p['k_g'] + 1, half_k(p['k_g']) + 1)
        shared += [c_idx, c_val, rowmax]
    cache = (c_idx, c_val, rowmax, m_cache, sizes) if official and need_mutual else None
    if not official:
        G.bmin = torch.empty((ng,), dtype=gf.dtype, device=dev)
        shared.append(G.bmin)
    args = (p, official, half, need_graph, need_mutual, ranks, width, budget_elems, cache)
    need = _candidates_needed(p, ng, width, cache, need_graph, need_mutual)
    if margin is not None:
        extra = int(margin)
    else:
        extra = index.default_margin(need) if index is not None else 0
    if index is not None and need + extra >= ng:
        index = None  # a small gallery: the candidates would be whole rows
    g_lo, g_hi = ng * rank // world, ng * (rank + 1) // world
    for t0 in range(g_lo, g_hi, tile):  # one matrix product per tile ...
        t1 = min(g_hi, t0 + tile)
        if index is not None:
            rest = _faiss_rows(G, gf, dist, index, t0, t1, need + extra, limit, what, *args)
            for i0 in range(0, rest.numel(), MIN_GEMM_ROWS):  # rows faiss could not settle
                rr = rest[i0:i0 + MIN_GEMM_ROWS]
                D = dist.pick(gf, rr, gf)
                check_distances(D, 'the gallery-gallery distances', budget_elems, limit, what)
                if official and half:
                    D = _to_half_values(D)
                _gallery_rows(G, D, rr, *args)
            bar.update(t1 - t0)
            continue
        DT = dist.rows(gf, t0, t1, gf)
        check_distances(DT, 'the gallery-gallery distances', budget_elems, limit, what)
        if official and half:
            DT = _to_half_values(DT)
        # ... and the elementwise work in cache-sized row blocks, as the dense path
        for s0, s1 in row_chunks(t1 - t0, ng, budget_elems):
            _gallery_rows(G, DT[s0:s1], torch.arange(t0 + s0, t0 + s1, device=dev), *args)
        del DT
        bar.update(t1 - t0)
    if world > 1:
        _share_rows(shared, world)
    if not need_mutual:
        return G
    if official:
        rec = reciprocal_sets(ranks, min(p['k_g'], width - 1), budget_elems)
        kh = half_k(p['k_g'])
        rec_half = reciprocal_sets(ranks, min(kh, width - 1), budget_elems)
        sets = expand_reciprocal_sets(rec, rec_half, budget_elems)
        del rec, rec_half, ranks
        vals = _set_values(gf, dist, sets, c_idx, c_val, half)
        del c_idx, c_val
        sq = vals * vals
        if half:
            sq = sq.to(torch.float16)
        d = sq.float() / rowmax
        w = torch.where(sets >= 0, torch.exp(-d), torch.zeros_like(d))
        G.vg = padded_to_sparse(sets, w, ng).normalise_rows_()
        G.cidx = _ColumnIndex(G.vg)
    else:
        rec = reciprocal_sets(ranks, min(k_g, width - 1), budget_elems)
        if p['expand']:
            rec_half = reciprocal_sets(ranks, min(half_k(k_g), width - 1), budget_elems)
            rec = expand_reciprocal_sets(rec, rec_half, budget_elems)
        G.rg = padded_to_sparse(rec, None, ng, dtype=gf.dtype)
        G.cidx = _ColumnIndex(G.rg)
        G.size_g = (G.rg.ptr[1:] - G.rg.ptr[:-1]).to(gf.dtype)
    return G


def _share_rows(arrays, world: int) -> None:
    """Every rank computed rows ``[Ng r / world, Ng (r + 1) / world)`` of ``arrays`` (first
    dimension ``Ng``); afterwards every rank holds all rows."""
    import torch.distributed as tdist
    ng = arrays[0].shape[0]
    rank = tdist.get_rank()
    lo, hi = ng * rank // world, ng * (rank + 1) // world
    gathered = [None] * world
    tdist.all_gather_object(gathered, [a[lo:hi].cpu() for a in arrays])
    for r, parts in enumerate(gathered):
        if r == rank:
            continue
        r0, r1 = ng * r // world, ng * (r + 1) // world
        for a, part in zip(arrays, parts):
            a[r0:r1] = part.to(a.device)


def _gallery_rows(G, D, rows, p, official, half, need_graph, need_mutual, ranks, width,
                  budget_elems, cache) -> None:
    """Gallery rows ``rows`` (their whole ``D_gg`` rows ``D``) into the structure of
    :func:`_build_gallery`."""
    ng = D.shape[1]
    dev = D.device
    if official:
        if need_graph:
            G.T[rows], G.B[rows] = graph_neighbours_tile(D, p['lam'], G.T.shape[1],
                                                         p['ties'], half)
        if need_mutual:
            c_idx, c_val, rowmax, m_cache, sizes = cache
            x = released_normalise(D, budget_elems, half)
            # one k-min pass gives the forward lists (its stable prefix, re-ordered like numpy
            # where a tie crosses a set boundary: released_gallery_weights' sets) and the
            # cached nearest items, whose distances are read from D
            vals, idx = topk_smallest(x, max(m_cache, width + 1 if width < ng else width))
            ri = idx[:, :width + 1].clone()
            if p['ties'] == 'numpy':
                numpy_tie_order_(x, ri, vals[:, :width + 1], sizes)
            ranks[rows] = ri[:, :width]
            del x, vals, ri
            c_idx[rows] = idx[:, :m_cache]
            c_val[rows] = D.gather(1, idx[:, :m_cache])
            sq = D * D
            if half:
                sq = sq.to(torch.float16)
            rowmax[rows] = torch.amax(sq, dim=1, keepdim=True).float()
        return
    D = D.clone()
    ar = torch.arange(D.shape[0], device=dev)
    if ng > 1:  # min over t != j (symmetric D_gg: the column minimum of the dense path)
        D[ar, rows] = float('inf')
        G.bmin[rows] = D.amin(dim=1) * p['lam']
    else:
        G.bmin.fill_(float('inf'))
    D[ar, rows] = float('-inf')  # N(g, k_g) starts with g itself
    ranks[rows] = topk_smallest(D, width)[1]


# ------------------------------------------------------------------------------ faiss candidates
def _candidates_needed(p, ng, width, cache, need_graph, need_mutual) -> int:
    """Nearest candidates a row must hold (one beyond every list, for the tie checks)."""
    need = 2
    if p['mode'] == 'official':
        if need_graph:
            need = max(need, min(p['n_graph'], ng) + 1)
        if need_mutual:
            need = max(need, cache[3], width + 1)
    else:
        need = max(need, width + 1)
    return need


def _sq_to_distance(sq: torch.Tensor, dist: _Distance) -> torch.Tensor:
    """The distance of ``dist`` from a squared L2 of the features faiss indexes."""
    sq = sq.clamp(min=0)
    if dist.metric == 'euclidean':
        return sq.sqrt()
    return sq / 2 if dist.metric == 'cosine' else sq  # 1 - cos = |u - v|^2 / 2 (unit u, v)


def _candidate_values(gf, dist: _Distance, rows: torch.Tensor, cand: torch.Tensor, cols_of):
    """``D_gg[rows[i], cand[i]]``, computed as the tiled path does (products of at least
    MIN_GEMM_ROWS rows against the union of the block's candidates); ``cols_of``: the gallery
    as :meth:`_Distance.columns` prepares it."""
    out = torch.empty(cand.shape, dtype=gf.dtype, device=gf.device)
    for i0 in range(0, rows.numel(), MIN_GEMM_ROWS):
        sel = slice(i0, i0 + MIN_GEMM_ROWS)
        c = cand[sel]
        cols = torch.unique(c)
        P = dist.pick_columns(gf, rows[sel], cols_of, cols)
        out[sel] = P.gather(1, torch.searchsorted(cols, c))
    return out


def _faiss_rows(G, gf, dist, index, r0, r1, m, limit, what, p, official, half, need_graph,
                need_mutual, ranks, width, budget_elems, cache) -> torch.Tensor:
    """Rows ``r0:r1`` of the gallery structure from the ``m`` nearest candidates faiss proposes
    (and its farthest ones, for the row maximum). The candidates' distances are recomputed as
    the tiled path computes them, ordered by (value, gallery index), and every list is read
    from them. A row is left to its whole ``D_gg`` row (returned) when faiss found too few
    candidates, when an exact index cannot certify that no other item enters a list (a value
    within faiss' float32 rounding of the last candidate's), or when a tie crosses a list
    boundary under ``ties='numpy'`` (numpy's order needs the whole row)."""
    dev = gf.device
    rows = torch.arange(r0, r1, device=dev)
    if index.columns is None:
        index.columns = dist.columns(gf)
    fsq, fid = index.nearest(r0, r1, m)
    ids = torch.as_tensor(fid).to(dev)
    fallback = (ids < 0).any(1)
    ids, _ = ids.clamp(min=0).sort(dim=1)  # by gallery index: ties resolve as a stable sort
    Dc = _candidate_values(gf, dist, rows, ids, index.columns)
    check_distances(Dc, 'the gallery-gallery distances', budget_elems, limit, what)
    eps = index.eps(np.arange(r0, r1))
    inf = torch.full((r1 - r0,), float('inf'), dtype=Dc.dtype, device=dev)

    def hround(x):
        return _to_half_values(x) if official and half else x

    if official and half:
        Dc = _to_half_values(Dc)
    if index.certified:  # every other item is at least this far
        lb = _sq_to_distance(torch.from_numpy(fsq[:, -1].astype(np.float64) - eps), dist)
        D_lb = hround(lb.to(device=dev, dtype=Dc.dtype))
    else:
        D_lb = inf
    if not official:
        self_pos = ids == rows.unsqueeze(1)
        fallback |= ~self_pos.any(1)
        mn = Dc.masked_fill(self_pos, float('inf')).amin(1)
        fallback |= ~(mn <= D_lb)
        ys, yo = torch.sort(Dc.masked_fill(self_pos, float('-inf')), dim=1, stable=True)
        fallback |= ~(ys[:, width - 1] < D_lb)
        ok = ~fallback
        G.bmin[rows[ok]] = mn[ok] * p['lam']
        ranks[rows[ok]] = ids.gather(1, yo[:, :width])[ok]
        return rows[fallback]
    ok_fn = []
    if need_graph:
        n = G.T.shape[1]
        lam = p['lam']
        lam_t = float(torch.tensor(lam, dtype=torch.float16)) if half else lam
        a = Dc * lam_t
        a_lb = D_lb * lam_t
        if half:
            a, a_lb = a.to(torch.float16).float(), a_lb.to(torch.float16).to(a_lb.dtype)
        key, key_lb = (a, a_lb) if lam > 0 else (Dc, D_lb)
        ks, ko = torch.sort(key, dim=1, stable=True)
        if p['ties'] == 'numpy':
            fallback |= ks[:, n - 1] == ks[:, n]
        fallback |= ~(ks[:, n] < key_lb)
        T, B = ids.gather(1, ko[:, :n]), a.gather(1, ko[:, :n])

        def put_graph(ok):
            G.T[rows[ok]], G.B[rows[ok]] = T[ok], B[ok]
        ok_fn.append(put_graph)
    if need_mutual:
        c_idx, c_val, rowmax, m_cache, sizes = cache
        fi, f_ub = index.farthest(r0, r1, index.params.far)
        fids = torch.as_tensor(fi).to(dev)
        fallback |= (fids < 0).all(1)
        Df = hround(_candidate_values(gf, dist, rows, fids.clamp(min=0), index.columns))
        far = torch.maximum(Df.amax(1), Dc.amax(1))
        if index.certified:  # every other item is at most this far
            ub = _sq_to_distance(torch.from_numpy(f_ub.astype(np.float64) + eps), dist)
            fallback |= far < hround(ub.to(device=dev, dtype=Dc.dtype))
        sq_far = far * far
        sq, sq_lb = Dc * Dc, D_lb * D_lb
        if half:
            sq_far, sq, sq_lb = (t.to(torch.float16) for t in (sq_far, sq, sq_lb))
        mx = sq_far.float().unsqueeze(1)
        x = sq.float() / mx
        x_lb = sq_lb.float() / mx.squeeze(1)
        ng = gf.shape[0]
        kk = max(m_cache, width + 1 if width < ng else width)
        xs, xo = torch.sort(x, dim=1, stable=True)
        if p['ties'] == 'numpy':
            for b in sizes:
                if 0 < b < min(width + 1, ng):
                    fallback |= xs[:, b - 1] == xs[:, b]
        fallback |= ~(xs[:, kk - 1] < x_lb)
        idx = ids.gather(1, xo[:, :kk])

        def put_mutual(ok):
            rr = rows[ok]
            ranks[rr] = idx[ok, :width]
            c_idx[rr] = idx[ok, :m_cache]
            c_val[rr] = Dc.gather(1, xo[:, :m_cache])[ok]
            rowmax[rr] = mx[ok]
        ok_fn.append(put_mutual)
    ok = ~fallback
    for put in ok_fn:
        put(ok)
    return rows[fallback]


def _set_values(gf, dist: _Distance, sets, c_idx, c_val, half) -> torch.Tensor:
    """``D_gg[j, sets[j]]`` from the cached nearest distances; the few members beyond the cache
    are recomputed from the features (rows of at least MIN_GEMM_ROWS)."""
    ng, width = sets.shape
    vals = torch.zeros(sets.shape, dtype=c_val.dtype, device=sets.device)
    missing = torch.zeros(sets.shape, dtype=torch.bool, device=sets.device)
    step = max(1, (1 << 22) // max(1, width * c_idx.shape[1]))
    for r0 in range(0, ng, step):
        r1 = min(ng, r0 + step)
        s = sets[r0:r1]
        eq = c_idx[r0:r1].unsqueeze(1) == s.unsqueeze(2)  # (r, width, M)
        found = eq.any(2)
        pos = eq.to(torch.uint8).argmax(2)
        vals[r0:r1] = torch.where(found, c_val[r0:r1].gather(1, pos), vals[r0:r1])
        missing[r0:r1] = (~found) & (s >= 0)
    rows = missing.any(1).nonzero().squeeze(1)
    for i0 in range(0, rows.numel(), 256):
        rr = rows[i0:i0 + 256]
        cols = torch.unique(sets[rr][missing[rr]])
        D = dist.pick(gf, rr, gf[cols])  # (r, |cols|)
        if half:
            D = _to_half_values(D)
        loc = torch.searchsorted(cols, sets[rr].clamp(min=0))
        loc = loc.clamp(max=cols.numel() - 1)
        v = D.gather(1, loc)
        vals[rr] = torch.where(missing[rr], v, vals[rr])
    return vals


# ------------------------------------------------------------------------------ query side
def _official_chunk(qg: torch.Tensor, G: _Gallery, p: Dict, budget: int) -> torch.Tensor:
    half = p['input_dtype'] == 'float16'
    out_dtype = qg.dtype
    if half:
        qg = _to_half_values(qg)
    if p['components'] == 'mutual':
        d = qg
    elif p['graph_update'] == 'sequential':
        d = _sequential(qg, G, p['K'], budget, half)
    else:
        d = official_graph_distance(qg, None, p['lam'], p['K'], G.T.shape[1], budget,
                                    neighbours=G.T, edge_weights=G.B, half=half)
    dn = released_normalise(d, budget, half)
    del d
    if p['components'] == 'graph':
        return dn.to(out_dtype)
    vq = released_query_weights(dn, p['k_q'] + 1, budget, p['ties'])
    a = p['alpha']
    out = torch.empty(dn.shape, dtype=out_dtype, device=dn.device)
    for r0, r1, S in sparse_min_sum(vq, G.vg, budget // 4, b_index=G.cidx):
        dm = 1 - S / (2 - S)
        dm.mul_(1.0 - a)
        o = out[r0:r1]
        torch.mul(dn[r0:r1].to(out_dtype), a, out=o)
        o.add_(dm)
    return out


def _sequential(qg: torch.Tensor, G: _Gallery, K: int, budget: int, half: bool) -> torch.Tensor:
    """The dense path's sequential graph step on the chunk (queries never interact)."""
    workers = torch.get_num_threads()
    with single_thread():  # as the dense path: one intra-op thread per query slice
        return sequential_graph_distance(qg, G.T, G.B, K, budget, half, workers=workers)


def _equations_graph(qg: torch.Tensor, qidx_rows: Callable[[torch.Tensor], torch.Tensor],
                     G: _Gallery, p: Dict, block: int) -> torch.Tensor:
    """``d_S`` of eqs. (4)-(5) for a query chunk, exact: candidates ``t`` in increasing
    ``D_qg[i, t]``; a pair is final once ``D_qg[i, t_next] + lam * min_{t != j} D_gg[t, j]`` is
    not below its K-th smallest value (the dense path's certificate); otherwise the query is
    redone with 4x more candidates, up to the whole gallery. ``qidx_rows(t)`` gives rows
    ``D_gg[t]`` from the features."""
    c, ng = qg.shape
    K, lam = p['K'], p['lam']
    cap = ng if p['prune_T'] is None else min(p['prune_T'], ng)
    out = torch.empty_like(qg)
    rows = torch.arange(c, device=qg.device)
    m = min(cap, K + 16)
    pend = None
    while True:
        sub = qg[rows]
        sv, si = topk_smallest(sub, min(m + 1, ng))
        best = sub.unsqueeze(0).clone()  # the direct edge t = j
        for s0 in range(0, m, block):
            s1 = min(m, s0 + block)
            cand = si[:, s0:s1]
            uniq, inv = torch.unique(cand, return_inverse=True)
            R = qidx_rows(uniq) * lam  # rows D_gg[t] (|U|, Ng)
            v = R[inv.t()]  # (s1 - s0, r, Ng)
            del R
            v.add_(sv[:, s0:s1].t().unsqueeze(-1))
            v.scatter_(2, cand.t().unsqueeze(-1), float('inf'))  # t == j: the direct edge
            best = torch.cat([best, v]).topk(min(K, best.shape[0] + v.shape[0]), dim=0,
                                             largest=False, sorted=True).values
            del v
        acc = best[0].clone()
        for s in range(1, K):
            acc.add_(best[s])
        vals = acc / K
        if pend is None:
            out[rows] = vals
        else:
            out[rows] = torch.where(pend, vals, out[rows])
        if m >= cap:
            break
        fail = (sv[:, m:m + 1] + G.bmin.unsqueeze(0)) < best[K - 1]
        keep = fail.any(1)
        if not bool(keep.any()):
            break
        rows, pend = rows[keep], fail[keep]
        m = min(cap, m * 4)
    return out


def _equations_chunk(qg, qidx_rows, G: _Gallery, p: Dict, budget: int, block: int):
    if p['components'] == 'mutual':
        d = qg.clone()
    else:
        d = _equations_graph(qg, qidx_rows, G, p, block)
    if p['components'] == 'graph':
        return d
    nc = query_knn_sets(d, p['k_q'], budget)
    a = p['alpha']
    size_q = (nc.ptr[1:] - nc.ptr[:-1]).to(nc.val.dtype)
    for r0, r1, inter in sparse_min_sum(nc, G.rg, budget // 4, b_index=G.cidx):
        union = size_q[r0:r1].unsqueeze(1) + G.size_g.unsqueeze(0) - inter
        dm = 1 - inter / union
        d[r0:r1].mul_(a).add_(dm, alpha=1.0 - a)
    return d


# ------------------------------------------------------------------------------ evaluation
def _eval_chunk(d, q, g, qc, gc):
    from ...evaluation.rank import _auto_chunk, _chunked_stats, _cpu_threads
    with _cpu_threads(d.device):
        return _chunked_stats(d, q, g, qc, gc, q, g, None, None, False, 'candidates',
                              _auto_chunk(None, d.shape[1]))


def _ids(x, name, n, dev):
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    t = t.reshape(-1).long().to(dev)
    if t.numel() != n:
        raise ValueError(f'{name} has {t.numel()} entries, expected {n} (one per feature row)')
    return t


def _features(x, name: str, device) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise ValueError(f'{name} must be a numpy array or a torch tensor, got '
                         f'{type(x).__name__}')
    if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f'{name} must be a non-empty 2-D (num_samples, dim) feature matrix, '
                         f'got shape {tuple(x.shape)}')
    if x.dtype != torch.float64:
        x = x.float()
    return x.to(device) if device is not None else x


def _plan(nq: int, ng: int, itemsize: int, p: Dict, budget: int, chunk: Optional[int],
          block: int, dim: int) -> Tuple[int, int]:
    """(queries per chunk, gallery rows per tile) within ``budget`` bytes."""
    k_g = p['k_g']
    width = (k_g + 1) * (half_k(k_g) + 2)  # widest expanded set (before trimming)
    # kept per gallery item: T/B, the distance cache, rank lists, expanded sets with their
    # values and weights, the CSR rows and their column index
    per_item = (p['n_graph'] * (8 + itemsize) + _CACHE_FACTOR * (k_g + 1) * (8 + itemsize)
                + 3 * (k_g + 1) * 8 + width * (8 + 3 * 4) + 64)
    fixed = ng * per_item + 4 * (1 << 22) * 8
    free = budget - fixed
    # gallery tile: D, the normalised copy, squares, top-k temporaries
    per_row_tile = ng * (4 * itemsize + 8)
    # query chunk: D_qg, the sequential buffer (2x) and its output, dS_n, the fused output,
    # the evaluation's masks; equations: the K best + one block of candidate planes + rows
    if p['mode'] == 'official':
        per_query = ng * (7 * itemsize + 8)
    else:
        per_query = ng * ((2 * p['K'] + 3 * block + 6) * itemsize + 8)
    need = fixed + max(per_row_tile, per_query)
    if free < max(per_row_tile, per_query):
        raise ValueError(
            f'memory_budget {_fmt_bytes(budget)} is too small: one query row of this gallery '
            f'({ng} items) with its gallery structure needs about {_fmt_bytes(need)}; raise '
            f'memory_budget (e.g. --memory-budget {max(1, math.ceil(need * 2 / (1 << 30)))}GB)')
    tile = max(1, min(ng, _DENSE_BLOCK, free // per_row_tile))  # the dense path's row blocks
    if tile < ng:
        tile = max(min(ng, MIN_GEMM_ROWS), tile)
    cq = max(1, min(nq, free // per_query)) if chunk is None else max(1, min(nq, int(chunk)))
    return cq, tile


# ------------------------------------------------------------------------------ public API
def similarity_inference_features(
        query_feats, gallery_feats, mode: str = 'official', *,
        q_pids=None, g_pids=None, q_camids=None, g_camids=None, max_rank: int = 50,
        topk: int = 0, memory_budget: Union[int, str] = '4GB',
        chunk_queries: Optional[int] = None, metric: str = 'euclidean', normalize: bool = True,
        device=None, shard: Optional[bool] = None, return_distances: bool = False,
        progress: Optional[bool] = False, preset: Optional[str] = None,
        on_chunk: Optional[Callable[[int, int, torch.Tensor], None]] = None,
        rerank: bool = True, dist_qg=None, distance_fn: Optional[Callable] = None,
        neighbours: str = 'exact', faiss_params: Optional[Dict] = None,
        gallery_cache: Optional[Dict] = None, **sim_kwargs) -> StreamResult:
    """SIM from features in bounded memory (module docstring; docs/sim.md "Large galleries").

    Args:
        query_feats, gallery_feats: ``(Nq, C)`` / ``(Ng, C)`` features (numpy or torch;
            float64 stays float64, anything else is float32).
        mode: ``'official'`` (released code, exact) or ``'equations'`` (eqs. (4)-(8), exact).
        q_pids, g_pids, q_camids, g_camids: ids; when given, every chunk is evaluated with the
            market rule and ``result.metrics`` equals ``evaluate_rank`` of the whole re-ranked
            matrix (``max_rank``: CMC length).
        topk: keep each query's ``topk`` nearest gallery items (indices and distances).
        memory_budget: bytes (or ``'4GB'``) for everything but the two feature arrays; sets the
            query chunk and the gallery tile. Too small for one query row: ``ValueError``.
        chunk_queries: override the chunk size (queries per chunk).
        metric, normalize: the distance of ``compute_distance`` (default: Euclidean of
            L2-normalised features, as the released code).
        shard: split the work over the ranks of ``torch.distributed`` (default: when it is
            initialised with more than one rank): each rank builds a slice of the gallery rows
            (exchanged, so the structure is built once) and takes a slice of the queries;
            metrics and top-k are gathered on every rank. ``False``: no collective at all
            (e.g. when only one rank calls this).
        return_distances: also return the full re-ranked matrix (small problems only).
        on_chunk: ``on_chunk(q0, q1, d)`` with the chunk's re-ranked distances (global query
            indices).
        progress: bars with ETA for the gallery tiles and the query chunks (None: on a terminal).
        rerank: False = no SIM: the plain distances, chunked and evaluated the same way (the
            "before" numbers).
        dist_qg: ``(Nq, Ng)`` query-gallery distances already computed (then ``query_feats``
            may be None; the chunks are its rows): only ``D_gg`` is streamed.
        distance_fn: ``fn(a, b) -> (len(a), len(b))`` distances used instead of
            ``compute_distance`` (``metric`` / ``normalize`` then do not apply); its row
            blocks may round differently from one call on the whole gallery.
        neighbours: how the gallery side finds each gallery item's nearest items (and its
            farthest, for the normalisation): ``'exact'`` (row tiles of ``D_gg``, default),
            ``'faiss'`` (exact faiss indexes propose candidates), ``'faiss-approx'`` (an HNSW
            index: far fewer distance evaluations, approximate lists), ``'bf16-approx'`` (row
            tiles of a bfloat16 product propose candidates: :class:`Bf16Neighbours`); see
            "Neighbours from faiss" below. Needs features and a built-in ``metric`` (not
            ``distance_fn``).
        faiss_params: :class:`~.faiss_index.FaissParams` keys (``hnsw_m``,
            ``ef_construction``, ``ef_search``, ``margin``, ``far``).
        gallery_cache: a dict kept by the caller: the gallery structure is stored there and
            reused by later calls with the same gallery (same tensor, settings and size), e.g.
            query batches re-ranked one after the other.
        preset, **sim_kwargs: as :func:`~asym_plugins.methods.sim.similarity_inference`
            (``lam, K, k_q, k_g, alpha, n_graph, prune_T, components, expand, graph_update,
            input_dtype, ties, chunk_size``).

    **Neighbours from faiss.** faiss only proposes each gallery row's nearest candidates (a
    margin beyond what the lists need) and its farthest ones; their distances are recomputed
    with the tiled path's arithmetic (bit-identical values) and ordered by (value, gallery
    index) as the tiled path orders them. With ``'faiss'`` the result therefore equals
    ``'exact'``: a row whose candidates faiss cannot certify is recomputed from its whole
    ``D_gg`` row -- faiss computes squared L2 in float32 from ``|x|^2 + |y|^2 - 2 x.y``, so an
    item whose distance is within that rounding (:meth:`~.faiss_index.FaissNeighbours.eps`)
    of the last candidate's may order differently there, and such a near-tie at the edge of
    the candidates is not trusted; so is a tie across a list boundary under ``ties='numpy'``
    (numpy's order of tied items depends on the whole row). Rows recomputed this way cost one
    ``D_gg`` row each; with well-separated data they are rare. ``'faiss-approx'`` trusts the
    HNSW candidates (no bound exists): a true neighbour HNSW misses is replaced by the next
    one, and the row maximum is the farthest item HNSW finds (a slightly smaller normaliser).
    ``'bf16-approx'`` works the same way with the candidates of a bfloat16 product.
    The query side (``D_qg`` rows, the graph step, the fusion) is exact in every case.
    """
    p = resolve_sim_params(mode, preset, **sim_kwargs)
    if neighbours not in NEIGHBOURS:
        raise ValueError(f'neighbours must be one of {NEIGHBOURS}, got {neighbours!r}')
    if neighbours != 'exact' and distance_fn is not None:
        raise ValueError(f'neighbours={neighbours!r} finds gallery candidates from the '
                         'features (faiss / a bfloat16 product), which cannot use a '
                         'distance_fn; use neighbours=\'exact\' or a '
                         "built-in metric ('euclidean', 'sqeuclidean', 'cosine')")
    fparams = FaissParams.from_kwargs(faiss_params)
    if p['similarity'] and distance_fn is None and dist_qg is None:
        raise ValueError('similarity=True applies to dist_qg / distance_fn outputs (cosine '
                         'similarities); features give distances here')
    budget_bytes = parse_memory(memory_budget)
    gf = _features(gallery_feats, 'gallery_feats', device)
    if dist_qg is not None:
        dqg = torch.as_tensor(dist_qg)
        if dqg.dim() != 2 or dqg.shape[1] != gf.shape[0] or dqg.shape[0] < 1:
            raise ValueError(f'dist_qg must be (Nq, Ng) with Ng = {gf.shape[0]} gallery '
                             f'features, got shape {tuple(dqg.shape)}')
        if dqg.dtype != torch.float64:
            dqg = dqg.float()
        gf = gf.to(device=dqg.device if device is None else device)
        if dqg.dtype == torch.float64:
            gf = gf.double()
        if query_feats is None:  # stands in for the query features: only its length is used
            query_feats = torch.zeros((dqg.shape[0], gf.shape[1]), dtype=gf.dtype)
    qf = _features(query_feats, 'query_feats', device)
    if qf.shape[1] != gf.shape[1]:
        raise ValueError(f'query_feats and gallery_feats have different feature dims: '
                         f'{qf.shape[1]} vs {gf.shape[1]}')
    if qf.dtype != gf.dtype:
        qf, gf = qf.double(), gf.double()
        if dist_qg is not None:
            dqg = dqg.double()
    gf = gf.to(qf.device)
    for name, f in (('query_feats', qf), ('gallery_feats', gf)):
        bad = ~torch.isfinite(f).all(dim=1)
        if bool(bad.any()):
            raise ValueError(f'{name} has {int(bad.sum())} row(s) with NaN/inf values (first: '
                             f'{bad.nonzero().flatten()[:5].tolist()})')
    nq, ng = qf.shape[0], gf.shape[0]
    _check_K(p, ng)
    if topk < 0:
        raise ValueError(f'topk must be >= 0, got {topk}')
    topk = min(int(topk), ng)
    ids = (q_pids, g_pids, q_camids, g_camids)
    if any(x is not None for x in ids) and any(x is None for x in ids):
        raise ValueError('give all of q_pids, g_pids, q_camids, g_camids to evaluate, or none')
    evaluate = q_pids is not None
    dev = qf.device
    if evaluate:
        qp, gp = _ids(q_pids, 'q_pids', nq, dev), _ids(g_pids, 'g_pids', ng, dev)
        qc, gc = _ids(q_camids, 'q_camids', nq, dev), _ids(g_camids, 'g_camids', ng, dev)
    dist = _Distance(metric, normalize, distance_fn, p['similarity'])
    qf, gf = dist.prepare(qf), dist.prepare(gf)
    itemsize = qf.element_size()
    block = 4
    cq, tile = _plan(nq, ng, itemsize, p, budget_bytes, chunk_queries, block, qf.shape[1])
    budget = p['chunk_size']
    # sharding over ranks
    world, rank = 1, 0
    if shard is None or shard:
        import torch.distributed as tdist
        if tdist.is_available() and tdist.is_initialized():
            world, rank = tdist.get_world_size(), tdist.get_rank()
        elif shard:
            raise ValueError('shard=True needs an initialised torch.distributed process group')
    lo, hi = nq * rank // world, nq * (rank + 1) // world
    res = StreamResult(chunk_queries=cq, tile_rows=tile)
    t0 = time.perf_counter()
    with torch.no_grad():
        key = (mode, tuple(sorted((k, str(v)) for k, v in p.items())), neighbours,
               str(fparams), ng, str(gf.dtype), str(gf.device), metric, normalize, world)
        G = None
        key += (getattr(gallery_feats, '_version', None),)
        if (gallery_cache is not None and gallery_cache.get('key') == key
                and gallery_cache.get('feats') is gallery_feats):
            G = gallery_cache['gallery']
        elif rerank:
            index = None
            if neighbours == 'bf16-approx':
                index = Bf16Neighbours(gf, metric, fparams)
            elif neighbours != 'exact':
                index = _faiss_index(gf, metric, neighbours == 'faiss-approx', fparams, world)
            res.seconds['index'] = time.perf_counter() - t0
            with _progress(total=ng * (rank + 1) // world - ng * rank // world,
                           desc=f'SIM gallery ({mode})', unit='img', enabled=progress) as bar:
                G = _build_gallery(gf, dist, p, tile, budget, bar, index, fparams.margin,
                                   world, rank)
            del index
            if gallery_cache is not None:
                gallery_cache.clear()
                gallery_cache.update(key=key, gallery=G, feats=gallery_feats)
        res.seconds['gallery'] = time.perf_counter() - t0
        t1 = time.perf_counter()
        parts, tk_i, tk_d, full = [], [], [], []
        half = p.get('input_dtype') == 'float16'
        limit = _HALF_LIMIT if half else MAX_DISTANCE
        what = "SIM (input_dtype='float16')" if half else 'SIM'
        res.num_chunks = math.ceil((hi - lo) / cq) if hi > lo else 0
        desc = f'SIM queries ({mode})' if rerank else 'queries (plain distance)'
        with _progress(total=hi - lo, desc=desc, unit='query',
                       enabled=progress) as bar:
            for q0 in range(lo, hi, cq):
                q1 = min(hi, q0 + cq)
                if dist_qg is not None:
                    qg = dqg[q0:q1].to(device=dev, dtype=gf.dtype)
                    if p['similarity']:
                        qg = _cosine_to_distance(qg, 'dist_qg', budget)
                else:
                    qg = dist.rows(qf, q0, q1, gf)
                check_distances(qg, 'the query-gallery distances', budget, limit, what)
                if not rerank:
                    d = qg
                elif p['mode'] == 'official':
                    d = _official_chunk(qg, G, p, budget)
                else:
                    d = _equations_chunk(qg, lambda t: dist.pick(gf, t, gf), G, p, budget,
                                         block)
                del qg
                if on_chunk is not None:
                    on_chunk(q0, q1, d)
                if evaluate:
                    parts.append(_eval_chunk(d, qp[q0:q1], gp, qc[q0:q1], gc))
                if topk:
                    v, i = topk_smallest(d, topk)
                    tk_i.append(i.cpu())
                    tk_d.append(v.cpu())
                if return_distances:
                    full.append(d.cpu())
                del d
                bar.update(q1 - q0)
        res.seconds['queries'] = time.perf_counter() - t1
    local = dict(
        stats=[torch.cat(ts).cpu() for ts in zip(*parts)] if parts else None,
        ti=torch.cat(tk_i) if tk_i else None, td=torch.cat(tk_d) if tk_d else None,
        full=torch.cat(full) if full else None)
    if world > 1:
        import torch.distributed as tdist
        gathered = [None] * world
        tdist.all_gather_object(gathered, local)
    else:
        gathered = [local]

    def cat(key, j=None):
        xs = [g[key] if j is None else g[key][j] for g in gathered
              if g[key] is not None]
        return torch.cat(xs) if xs else None

    if evaluate:
        from ...evaluation.rank import QueryStats, _clamp_max_rank, summarize_stats
        stats = QueryStats(*(cat('stats', j) for j in range(4)))
        res.metrics = summarize_stats(stats, _clamp_max_rank(max_rank, ng), ng,
                                      what='similarity_inference_features')
    if topk:
        res.topk_index, res.topk_distance = cat('ti').numpy(), cat('td').numpy()
    if return_distances:
        res.distances = cat('full').numpy()
    return res


class Bf16Neighbours:
    """``neighbours='bf16-approx'``: each gallery row's candidates from the product of the
    features rounded to bfloat16 (accumulated in float32 by the matrix kernel; several times
    faster than float32 on CPUs with AVX512-BF16 / AMX and on GPUs), in row tiles: the nearest
    ``m`` of ``|y|^2 - 2 x.y`` (exact float32 norms) and the farthest. Same interface as
    :class:`~.faiss_index.FaissNeighbours`; no bound is claimed (bfloat16 keeps 8 bits of each
    feature), so the lists are approximate where the rounding reorders items at their edge."""
    certified = False
    columns = None  # the gallery as _Distance.columns prepares it (set by the streaming path)

    def __init__(self, feats: torch.Tensor, metric: str, params: FaissParams):
        u = l2_normalize(feats.float()) if metric == 'cosine' else feats.float()
        self.u = u.to(torch.bfloat16)
        self.norms = (u * u).sum(1)
        self.params = params
        self._tile = None

    @staticmethod
    def default_margin(need: int) -> int:
        return max(16, need // 2)

    def _key(self, r0: int, r1: int) -> torch.Tensor:
        if self._tile is None or self._tile[0] != (r0, r1):
            self._tile = None
            prod = torch.matmul(self.u[r0:r1], self.u.t())
            key = torch.add(self.norms, prod, alpha=-2.0)  # |x - y|^2 - |x|^2, float32
            del prod
            self._tile = ((r0, r1), key)
        return self._tile[1]

    def eps(self, rows) -> np.ndarray:
        return np.zeros(len(rows))

    def nearest(self, r0: int, r1: int, k: int):
        k = min(int(k), self.u.shape[0])
        return None, _raw_kmin(self._key(r0, r1), k)[1]  # any order: re-sorted by index

    def farthest(self, r0: int, r1: int, k: int):
        k = min(int(k), self.u.shape[0])
        ids = torch.topk(self._key(r0, r1), k, dim=1, largest=True, sorted=True)[1]
        return ids, None


def _faiss_index(gf, metric: str, approx: bool, params: FaissParams, world: int):
    """The faiss index of the gallery; with several ranks an HNSW graph is built by rank 0 and
    sent to the others."""
    if not approx or world == 1:
        return FaissNeighbours(gf, metric, approx, params)
    import torch.distributed as tdist
    box = [None]
    if tdist.get_rank() == 0:
        index = FaissNeighbours(gf, metric, approx, params)
        box = [index.serialised()]
    tdist.broadcast_object_list(box, src=0)
    if tdist.get_rank() == 0:
        return index
    return FaissNeighbours(gf, metric, approx, params, index_bytes=box[0])


# ------------------------------------------------------------------------------ hooks
class GalleryFeatures:
    """Stands for a gallery-gallery distance matrix too large for the memory budget: the
    gallery features and the distance function that would have made it."""

    def __init__(self, feats, distance_fn: Callable):
        if not isinstance(feats, (torch.Tensor, np.ndarray)):
            feats = torch.as_tensor(feats)
        self.feats, self.distance_fn = feats, distance_fn
        n = len(feats)
        self.shape = (n, n)
        #: the streaming SIM's gallery structure, kept for later query chunks
        self.cache: Dict = {}


class BudgetedReranker:
    """A re-ranker that runs SIM streamed from the gallery features when it receives a
    :class:`GalleryFeatures` instead of ``dist_gg`` (see :func:`gallery_stand_in`); anything
    else goes to the wrapped re-ranker unchanged. Attributes are the wrapped one's."""

    def __init__(self, inner, memory_budget):
        self.inner = inner
        self.memory_budget = parse_memory(memory_budget)

    def __getattr__(self, name):
        inner = self.__dict__.get('inner')
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def too_big(self, ng: int, dtype=torch.float32) -> bool:
        """Would the dense ``(Ng, Ng)`` matrix (and the dense path's copies of it) exceed the
        budget?"""
        item = torch.empty((), dtype=dtype).element_size()
        return 2 * ng * ng * item > self.memory_budget

    def __call__(self, dist_qg, dist_gg=None, dist_qq=None):
        if not isinstance(dist_gg, GalleryFeatures):
            return self.inner(dist_qg, dist_gg, dist_qq)
        p = {k: v for k, v in self.inner.params.items() if k != 'mode'}
        dqg = torch.as_tensor(dist_qg)
        # shard=False: the hooks call this on one rank (kinds 1-2: the metric's main process)
        # or on every rank with its own queries (kind 3), never in step
        res = similarity_inference_features(
            None, dist_gg.feats, self.inner.mode, dist_qg=dqg,
            distance_fn=dist_gg.distance_fn, memory_budget=self.memory_budget,
            device=getattr(self.inner, 'device', None), return_distances=True,
            progress=getattr(self.inner, 'progress', None), shard=False,
            gallery_cache=dist_gg.cache, **p)
        return torch.from_numpy(res.distances).to(dqg.device)

    def __repr__(self) -> str:
        return repr(self.inner)

    @staticmethod
    def wrap(reranker, memory_budget):
        """``reranker`` wrapped when it is a :class:`SIMReranker` and a budget is set."""
        from .rerankers import SIMReranker
        if memory_budget is None or not isinstance(reranker, SIMReranker):
            return reranker
        return BudgetedReranker(reranker, memory_budget)


def gallery_stand_in(distance_fn: Callable, reranker) -> Callable:
    """``distance_fn`` that returns a :class:`GalleryFeatures` for a gallery-gallery call whose
    dense matrix :class:`BudgetedReranker` finds too big; other calls are passed through."""
    if not isinstance(reranker, BudgetedReranker):
        return distance_fn

    def fn(a, b):
        dtype = a.dtype if isinstance(a, torch.Tensor) else torch.float32
        if a is b and reranker.too_big(len(a), dtype):
            return GalleryFeatures(a, distance_fn)
        return distance_fn(a, b)
    return fn
