"""SIM step 1: similarity-graph inference, ``d_S`` (torch only; no mmengine/torchreid).

Two behaviours (see :func:`asym_plugins.methods.sim.similarity_inference`):

``official`` (the authors' released code, docs/sim.md "Method" 1)
    ``T_j`` = the ``n_graph`` nearest gallery items of ``g_j`` under ``fl(lam * D_gg)``
    (:func:`released_graph_neighbours`); columns are updated in index order, in place:
    ``d[:, j]`` = mean of the K smallest ``d[:, t] + lam * D_gg[j, t]`` over ``t in T_j``, with
    ``d[:, t]`` already updated for ``t < j`` (:func:`sequential_graph_distance`, exact, one
    vectorised step per dependency level). :func:`official_graph_distance` is the
    column-independent variant (``graph_update='parallel'``: every column from the original
    ``D_qg``).

``equations`` (slides, eqs. (4)-(5))
    ``d(q_i, g_j; t) = E(q_i, g_t) + E(g_t, g_j)`` with ``E(q, g_t) = D_qg[i, t]``,
    ``E(g_t, g_j) = lam * D_gg[t, j]`` for ``t != j`` and ``E(g_j, g_j) = 0`` (so ``t = j`` is the
    direct edge ``D_qg[i, j]``); ``d_S[i, j]`` = mean of the K smallest values over t.
    Exact (``prune_T=None``: all Ng intermediates) or pruned (t restricted to the ``prune_T``
    nearest gallery items of ``q_i`` under ``D_qg``, plus ``t = j`` always).

Both are "mean of the K smallest of n candidates" for every (query, gallery) pair; we evaluate it
with an elementwise selection network over *planes* (one plane per candidate, one element per
pair) in cache-sized blocks (see :mod:`._kernels`).

The exact equations mode never scans all Ng intermediates for most pairs: candidates are visited
in increasing ``D_qg[i, t]`` order, and once the K-th smallest value ``U`` found so far satisfies
``D_qg[i, t_next] + lam * min_{t != j} D_gg[t, j] >= U`` no unvisited t can enter the K smallest,
so the pair is final (a certificate, not a heuristic: the result equals the brute-force
(min,+) top-K; float rounding is monotone so the test is exact in floating point too). Pairs without
a certificate go to the next stage with 4x more candidates, up to all Ng (exact) or ``prune_T``
(pruned). The same machinery gives the pruned variant and says which of its pairs are provably
exact.
The first stage's candidate count is chosen from a small sample of pairs (:func:`choose_stage1`);
it changes only the speed, never the result.

Numerics: a path value is computed as ``fl(D_qg[i, t] + fl(lam * D_gg[., .]))`` (no fused
multiply-add), in the inputs' dtype; ``d_S`` = (sum of the K smallest) / K. Only the order in which
the K values are added differs between code paths (last-bit differences).
"""
from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from . import _compiled
from ._kernels import (
    copy_transposed,
    kmin_sum_planes,
    numpy_tie_order_,
    plan_cost,
    plane_block_rows,
    row_chunks,
    topk_smallest,
)

__all__ = ['official_graph_distance', 'equations_graph_distance', 'released_graph_neighbours',
           'graph_neighbours_tile', 'sequential_graph_distance', 'dependency_levels']


def round_half_(x: torch.Tensor) -> torch.Tensor:
    """In place: round float32 values to the nearest float16 (ties to even), kept as float32."""
    return x.copy_(x.to(torch.float16))


def released_graph_neighbours(dist_gg: torch.Tensor, lam: float, n: int, budget: int,
                              ties: str = 'numpy', half: bool = False
                              ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Neighbour lists and edge weights of the released graph step (docs/sim.md, Method 1).

    Returns ``(T, B)``, both ``(Ng, n)``: ``T[j]`` = the ``n`` nearest gallery items of ``g_j``
    under ``A = fl(lam * D_gg)`` (the array the released code sorts; ``g_j`` itself is normally
    among them) and ``B[j, s] = A[j, T[j, s]]``. ``ties='numpy'``: a tie across position ``n``
    is resolved by ``numpy.argsort`` of that row, as released (the order numpy's unstable sort
    gives on this machine); ``'stable'``: by the lower index. ``half``: ``A`` is computed as
    float16 values (``fl16(fl16(lam) * D_gg)``, the released evaluation scripts' arithmetic),
    stored in ``dist_gg``'s float32 dtype. ``lam = 0`` [ours]: rank by ``D_gg`` instead (the
    released code would rank a row of zeros in arbitrary order).
    """
    ng = dist_gg.shape[0]
    n = min(int(n), ng)
    T = torch.empty((ng, n), dtype=torch.long, device=dist_gg.device)
    B = torch.empty((ng, n), dtype=dist_gg.dtype, device=dist_gg.device)
    for r0, r1 in row_chunks(ng, ng, budget):
        T[r0:r1], B[r0:r1] = graph_neighbours_tile(dist_gg[r0:r1], lam, n, ties, half)
    return T, B


def graph_neighbours_tile(rows: torch.Tensor, lam: float, n: int, ties: str = 'numpy',
                          half: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`released_graph_neighbours` of a row tile ``rows`` (``(r, Ng)`` rows of
    ``D_gg``, each row complete): ``(T, B)`` of those rows, ``n <= Ng``."""
    ng = rows.shape[1]
    lam_t = float(torch.tensor(lam, dtype=torch.float16)) if half else lam
    a = rows * lam_t
    if half:
        round_half_(a)
    key = a if lam > 0 else rows
    vals, idx = topk_smallest(key, n + 1 if n < ng else n)
    if ties == 'numpy' and n < ng:
        numpy_tie_order_(key, idx, vals, (n,), np.float16 if half else None)
    T = idx[:, :n].contiguous()
    return T, a.gather(1, T)


def dependency_levels(T: torch.Tensor) -> torch.Tensor:
    """``level[j] = 0`` if no neighbour ``t < j`` of ``g_j`` in ``T``, else
    ``1 + max(level[t] for t in T[j] if t < j)``: columns of one level never read each other."""
    rows = T.cpu().tolist()
    lv = [0] * len(rows)
    for j, nb in enumerate(rows):
        m = -1
        for t in nb:
            if t < j and lv[t] > m:
                m = lv[t]
        lv[j] = m + 1
    return torch.tensor(lv, dtype=torch.long)


def sequential_graph_distance(dist_qg: torch.Tensor, T: torch.Tensor, B: torch.Tensor, K: int,
                              budget: int, half: bool = False, workers: int = 1,
                              transposed: bool = False) -> torch.Tensor:
    """``d_S`` of the released code: the sequential, in-place column update (docs/sim.md,
    Method 1).

    Column ``j`` (in index order) becomes the mean of the ``K`` smallest of
    ``d[:, t] + B[j, s]`` over its neighbours ``t = T[j, s]``, where ``d[:, t]`` is the
    *already updated* column for ``t < j`` and the original ``D_qg[:, t]`` for ``t >= j``.
    Exact order-preserving evaluation: on CPU with numba, the compiled kernel of
    :mod:`._compiled` updates ``D_qg^T`` in place, columns in index order, like the released
    code; otherwise columns are grouped by :func:`dependency_levels` (all neighbours ``t < j`` of
    a level-``L`` column lie on lower levels), and each level is one vectorised step over all its
    columns and all queries. Queries never interact, so ``workers`` threads (CPU) each take a
    slice of the queries, with one intra-op thread each. ``half``: every sum and mean is rounded
    to float16 as in the released evaluation scripts (values held in float32; the K-sum is exact
    in float32, then divided and rounded like numpy's float16 ``mean``). Returns ``(Nq, Ng)`` in
    ``dist_qg``'s dtype, or with ``transposed`` its transpose ``(Ng, Nq)`` (contiguous, no copy).
    """
    nq, ng = dist_qg.shape
    device, dtype = dist_qg.device, dist_qg.dtype
    workers = max(1, min(int(workers), nq)) if device.type == 'cpu' else 1
    bounds = [round(nq * w / workers) for w in range(workers + 1)]
    jobs = [(bounds[w], bounds[w + 1]) for w in range(workers) if bounds[w + 1] > bounds[w]]
    if (device.type == 'cpu' and dtype in (torch.float32, torch.float64)
            and not (half and dtype != torch.float32) and _compiled.available()):
        Tn, Bn = T.contiguous().numpy(), B.to(dtype).contiguous().numpy()
        try:  # compile (first call on a machine) on a one-query dummy
            _compiled.sequential_columns(np.zeros((ng, 1), dtype=Bn.dtype), Tn, Bn, K, half,
                                         0, 1)
        except Exception as e:  # a broken numba install or cache: the torch path below
            _compiled.disable(e)
        else:
            buf = torch.empty((ng, nq), dtype=dtype)  # D_qg^T, updated in place as released
            copy_transposed(buf, dist_qg)
            _run_slices(_compiled.sequential_columns, (buf.numpy(), Tn, Bn, K, half), jobs)
            if transposed:
                return buf
            out = torch.empty((nq, ng), dtype=dtype)
            return copy_transposed(out, buf)
    # buf[:ng] = updated columns (rows here), buf[ng:] = original columns; D_qg^T layout so a
    # column of D_qg is a contiguous row
    buf = torch.empty((2 * ng, nq), dtype=dtype, device=device)
    copy_transposed(buf[ng:], dist_qg)
    j_idx = torch.arange(ng, device=device).unsqueeze(1)
    src = torch.where(T < j_idx, T, T + ng)  # row of buf each candidate reads
    levels = dependency_levels(T)
    order = torch.argsort(levels, stable=True).to(device)
    counts = torch.bincount(levels).tolist()
    _run_slices(_sequential_slice, (buf, src, B, order, counts, K, budget, half), jobs)
    if transposed:
        return buf[:ng]
    out = torch.empty((nq, ng), dtype=dtype, device=device)
    copy_transposed(out, buf[:ng])
    return out


def _run_slices(fn, args, jobs) -> None:
    """``fn(*args, q0, q1)`` for every query slice of ``jobs``, one thread each."""
    if len(jobs) == 1:
        fn(*args, *jobs[0])
        return
    errors = []

    def run(q0, q1):
        try:
            fn(*args, q0, q1)
        except BaseException as e:  # pragma: no cover - re-raised below
            errors.append(e)

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _sequential_slice(buf, src, B, order, counts, K, budget, half, q_lo, q_hi):
    """Queries ``q_lo:q_hi`` of :func:`sequential_graph_distance`, level by level."""
    n = src.shape[1]
    device, dtype = buf.device, buf.dtype
    target = plane_block_rows(1, device, budget, n)  # elements per plane block
    if device.type == 'cpu':
        target = min(target, SEQ_PLANE_ELEMS_CPU * (2 if dtype != torch.float64 else 1))
    nq = q_hi - q_lo
    qb = min(nq, max(1, target))
    cmax = max(1, target // qb)
    planes_mem = torch.empty((cmax * n * qb,), dtype=dtype, device=device)
    spare_mem = torch.empty((cmax * qb,), dtype=dtype, device=device)
    acc_mem = torch.empty((cmax * qb,), dtype=dtype, device=device)
    start = 0
    for cnt in counts:
        cols_level = order[start:start + cnt]
        start += cnt
        for c0 in range(0, cnt, cmax):
            cols = cols_level[c0:c0 + cmax]
            c = cols.numel()
            idx = src[cols].t().reshape(-1)  # candidate-major: plane s = rows s*c .. s*c+c-1
            b = B[cols].t().unsqueeze(-1)  # (n, c, 1)
            for q0 in range(q_lo, q_hi, qb):
                q1 = min(q_hi, q0 + qb)
                w = q1 - q0
                view = buf[:, q0:q1]
                G = planes_mem[:c * n * w].view(n, c, w)
                torch.index_select(view, 0, idx, out=G.view(n * c, w))
                G.add_(b)
                if half:
                    round_half_(G)
                acc = acc_mem[:c * w].view(c, w)
                kmin_sum_planes(list(G.unbind(0)), K, spare_mem[:c * w].view(c, w), acc)
                acc.div_(K)
                if half:
                    round_half_(acc)
                view.index_copy_(0, cols, acc)


#: Elements per plane block of the sequential graph step on CPU, float64 (float32: twice as many);
#: the fastest in CPU time at SYSU scale among 4096 ... 65536.
SEQ_PLANE_ELEMS_CPU = 1 << 14


def official_graph_distance(dist_qg: torch.Tensor, dist_gg: torch.Tensor, lam: float, K: int,
                            n_graph: int, budget: int,
                            neighbours: Optional[torch.Tensor] = None,
                            edge_weights: Optional[torch.Tensor] = None,
                            half: bool = False, transposed: bool = False) -> torch.Tensor:
    """``d_S`` with ``graph_update='parallel'``: every column from the *original* ``D_qg``
    (columns independent; not the released sequential update). ``(Nq, Ng)``, input dtype.

    ``neighbours`` / ``edge_weights``: precomputed ``(T, B)`` of
    :func:`released_graph_neighbours` (default: stable ties, ``B = fl(lam * D_gg[j, T[j]])``).
    ``transposed``: return ``(Ng, Nq)`` instead.
    """
    nq, ng = dist_qg.shape
    n = min(int(n_graph), ng)
    if neighbours is None:
        neighbours, edge_weights = released_graph_neighbours(dist_gg, lam, n, budget, 'stable',
                                                             half)
    T = neighbours
    B = dist_gg.gather(1, T) * lam if edge_weights is None else edge_weights
    qgT = dist_qg.t().contiguous()  # (Ng, Nq): column t of D_qg is a contiguous row
    shape = (ng, nq) if transposed else (nq, ng)
    out = torch.empty(shape, dtype=dist_qg.dtype, device=dist_qg.device)
    cg = min(ng, plane_block_rows(nq, dist_qg.device, budget, n))
    planes = torch.empty((n, cg, nq), dtype=dist_qg.dtype, device=dist_qg.device)
    spare = torch.empty((cg, nq), dtype=dist_qg.dtype, device=dist_qg.device)
    acc = torch.empty((cg, nq), dtype=dist_qg.dtype, device=dist_qg.device)
    for j0 in range(0, ng, cg):
        j1 = min(ng, j0 + cg)
        c = j1 - j0
        P = [planes[s, :c] for s in range(n)]
        for s in range(n):
            torch.index_select(qgT, 0, T[j0:j1, s], out=P[s])
            P[s].add_(B[j0:j1, s].unsqueeze(1))
            if half:
                round_half_(P[s])
        a = acc[:c]
        kmin_sum_planes(P, K, spare[:c], a)
        a.div_(K)
        if half:
            round_half_(a)
        if transposed:
            out[j0:j1] = a
        else:
            out[:, j0:j1] = a.t()
    return out


def _column_min_offdiag(dist_gg: torch.Tensor, budget: int) -> torch.Tensor:
    """``min_{t != j} D_gg[t, j]`` for every j (+inf when Ng == 1)."""
    ng = dist_gg.shape[0]
    colmin = torch.full((ng,), float('inf'), dtype=dist_gg.dtype, device=dist_gg.device)
    for r0, r1 in row_chunks(ng, ng, budget):
        x = dist_gg[r0:r1]
        for c0, c1 in ((0, r0), (r1, ng)):  # columns whose diagonal is not in this row chunk
            if c1 > c0:
                torch.minimum(colmin[c0:c1], torch.amin(x[:, c0:c1], dim=0), out=colmin[c0:c1])
        blk = x[:, r0:r1].clone()  # the (c, c) block holding the diagonal
        blk.fill_diagonal_(float('inf'))
        torch.minimum(colmin[r0:r1], torch.amin(blk, dim=0), out=colmin[r0:r1])
    return colmin


#: Growth factor of the candidate count between later stages.
EQ_STAGE_GROWTH = 4
#: Relative cost of one (pair, candidate) in the per-pair refinement stages vs one elementwise
#: plane op of stage 1 (random gathers + topk on short rows); used to pick the stage-1 size.
_REFINE_COST = 60.0


def _stage_values(dist_qg, dist_gg, lam, rows, sv, si, m, cols=None):
    """Values ``D_qg[i, t_s] + fl(lam * D_gg[t_s, j])`` for the first ``m`` sorted candidates of
    the given query rows (``(len(rows), m, J)``; t == j masked to +inf) plus the direct edge as a
    last slice."""
    ng = dist_qg.shape[1]
    cols = torch.arange(ng, device=dist_qg.device) if cols is None else cols
    cand = si[:, :m]
    vals = dist_gg[cand.reshape(-1, 1), cols.view(1, -1)].view(len(rows), m, -1) * lam
    vals.add_(sv[:, :m].unsqueeze(-1))
    vals.masked_fill_(cand.unsqueeze(-1) == cols.view(1, 1, -1), float('inf'))
    direct = dist_qg[rows.view(-1, 1), cols.view(1, -1)].unsqueeze(1)
    return torch.cat([vals, direct], dim=1)


def choose_stage1(dist_qg, dist_gg, lam, K, cap, bmin, budget, n_queries=64, n_cols=512):
    """Pick the stage-1 candidate count from a small sample of (query, gallery) pairs: the count
    minimising ``network cost + (uncertified fraction) x refinement cost``. Only affects speed."""
    nq, ng = dist_qg.shape
    ladder = sorted({m for m in (K, K + 3, K + 6, K + 11, K + 16, K + 24, K + 32, K + 48)
                     if m < cap} | ({cap} if cap <= K + 48 else set()))
    m_max = ladder[-1]
    if m_max >= cap and len(ladder) == 1:
        return cap
    g = torch.Generator().manual_seed(0)
    rows = torch.linspace(0, nq - 1, min(nq, n_queries)).round().long().to(dist_qg.device)
    cols = torch.randperm(ng, generator=g)[:min(ng, n_cols)].to(dist_qg.device)
    rows = rows[:max(1, budget // max(1, (m_max + 1) * cols.numel()))]
    sv, si = topk_smallest(dist_qg[rows], min(m_max + 1, ng))
    vals = _stage_values(dist_qg, dist_gg, lam, rows, sv, si, m_max, cols)  # (r, m_max+1, J)
    best, best_cost = ladder[0], float('inf')
    for m in ladder:
        if m >= cap:
            fail = 0.0
        else:
            sub = torch.cat([vals[:, :m], vals[:, -1:]], dim=1)
            U = torch.topk(sub, K, dim=1, largest=False).values[:, K - 1]
            fail = float(((sv[:, m:m + 1] + bmin[cols].unsqueeze(0)) < U).float().mean())
        cost = plan_cost(m + 1, K) + 4 * m + fail * _REFINE_COST * min(cap, EQ_STAGE_GROWTH * m)
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def equations_graph_distance(dist_qg: torch.Tensor, dist_gg: torch.Tensor, lam: float, K: int,
                             prune_T: Optional[int], budget: int,
                             stats: Optional[Dict] = None,
                             stage1: Optional[int] = None) -> torch.Tensor:
    """``d_S`` of eqs. (4)-(5), exact (``prune_T=None``) or pruned. ``(Nq, Ng)``, input dtype.

    If ``stats`` is a dict it receives ``pairs``, ``stages`` (candidate counts), ``resolved``
    (pairs finalised at each stage) and ``uncertified`` (pruned mode: pairs whose value may differ
    from the exact one because the candidate cap was reached without a certificate).
    """
    nq, ng = dist_qg.shape
    device, dtype = dist_qg.device, dist_qg.dtype
    cap = ng if prune_T is None else min(int(prune_T), ng)
    bmin = _column_min_offdiag(dist_gg, budget) * lam  # lower bound of fl(lam*D[t, j]), t != j
    if stage1 is None:
        stage1 = choose_stage1(dist_qg, dist_gg, lam, K, cap, bmin, budget)
    m1 = min(cap, max(K, int(stage1)))
    out = torch.empty((nq, ng), dtype=dtype, device=device)
    inf = float('inf')
    n_planes = m1 + 1
    cq = min(nq, plane_block_rows(ng, device, budget, n_planes))
    planes = torch.empty((n_planes, cq, ng), dtype=dtype, device=device)
    spare = torch.empty((cq, ng), dtype=dtype, device=device)
    acc = torch.empty((cq, ng), dtype=dtype, device=device)
    kth = torch.empty((cq, ng), dtype=dtype, device=device)
    pend_q, pend_j = [], []
    resolved = [0]
    group = max(cq, min(nq, max(1, budget // (4 * ng)) // cq * cq))  # queries per topk call
    for g0 in range(0, nq, group):
        g1 = min(nq, g0 + group)
        svg, sig = topk_smallest(dist_qg[g0:g1], min(m1 + 1, ng))
        for q0 in range(g0, g1, cq):
            q1 = min(g1, q0 + cq)
            c = q1 - q0
            a = dist_qg[q0:q1]
            sv, si = svg[q0 - g0:q1 - g0], sig[q0 - g0:q1 - g0]
            P = [planes[s, :c] for s in range(n_planes)]
            for s in range(m1):
                torch.index_select(dist_gg, 0, si[:, s], out=P[s])
                P[s].mul_(lam)
                P[s].add_(sv[:, s:s + 1])
                P[s].scatter_(1, si[:, s:s + 1], inf)  # t == j: excluded, the direct edge has it
            P[m1].copy_(a)  # direct edge t = j: D_qg[i, j] + E(g_j, g_j) = D_qg[i, j]
            kmin_sum_planes(P, K, spare[:c], acc[:c], kth[:c] if m1 < cap else None)
            out[q0:q1] = acc[:c] / K
            if m1 < cap:
                fail = (sv[:, m1:m1 + 1] + bmin.unsqueeze(0)) < kth[:c]
                fq, fj = fail.nonzero(as_tuple=True)
                pend_q.append(fq + q0)
                pend_j.append(fj)
                resolved[0] += c * ng - fq.numel()
            else:
                resolved[0] += c * ng
    stages = [m1]
    pq = torch.cat(pend_q) if pend_q else torch.empty(0, dtype=torch.long, device=device)
    pj = torch.cat(pend_j) if pend_j else torch.empty(0, dtype=torch.long, device=device)
    m = m1
    while pq.numel() and m < cap:
        m = min(cap, m * EQ_STAGE_GROWTH)
        stages.append(m)
        pq, pj, done = _refine_pairs(dist_qg, dist_gg, lam, K, m, cap, bmin, pq, pj, out, budget)
        resolved.append(done)
    if stats is not None:
        stats.update(pairs=nq * ng, stages=stages, resolved=resolved,
                     uncertified=int(pq.numel()))
    return out


def _refine_pairs(dist_qg, dist_gg, lam, K, m, cap, bmin, pq, pj, out, budget):
    """Recompute pending pairs with the ``m`` nearest candidates; return still-uncertified pairs."""
    ng = dist_qg.shape[1]
    device = dist_qg.device
    keep_q, keep_j = [], []
    done = 0
    n_sorted = min(m + 1, ng)
    gg_flat = dist_gg.reshape(-1) if dist_gg.is_contiguous() else None
    uq, counts = torch.unique_consecutive(pq, return_counts=True)
    starts = torch.zeros(uq.numel() + 1, dtype=torch.long)
    starts[1:] = counts.cpu().cumsum(0)
    q_per_group = max(1, budget // max(1, ng))
    pair_step = max(1, budget // (m + 2))
    for g0 in range(0, uq.numel(), q_per_group):
        g1 = min(uq.numel(), g0 + q_per_group)
        sv, si = topk_smallest(dist_qg[uq[g0:g1]], n_sorted)
        e0, e1 = int(starts[g0]), int(starts[g1])
        local = torch.repeat_interleave(torch.arange(g1 - g0, device=device), counts[g0:g1])
        for p0 in range(e0, e1, pair_step):
            p1 = min(e1, p0 + pair_step)
            qs, js, loc = pq[p0:p1], pj[p0:p1], local[p0 - e0:p1 - e0]
            jcol = js.unsqueeze(1)
            cand = torch.index_select(si, 0, loc)  # (p, n_sorted), n_sorted = m + 1 unless m == Ng
            svr = torch.index_select(sv, 0, loc)
            if cand.shape[1] == m:  # m == Ng: no spare column, append one for the direct edge
                cand = torch.cat([cand, cand[:, :1]], dim=1)
                svr = torch.cat([svr, svr[:, :1]], dim=1)
            if gg_flat is not None:
                vals = torch.take(gg_flat, cand * ng + jcol)
            else:
                vals = dist_gg[cand, jcol]
            vals.mul_(lam)
            vals.add_(svr)
            vals.masked_fill_(cand == jcol, float('inf'))
            vals[:, m] = dist_qg[qs, js]  # direct edge t = j (E(g_j, g_j) = 0)
            top = torch.topk(vals, K, dim=1, largest=False, sorted=True).values
            tt = top.t().contiguous()
            d = tt[0].clone()
            for s in range(1, K):
                d.add_(tt[s])
            out[qs, js] = d / K
            if m < cap:
                fail = (svr[:, m] + bmin[js]) < tt[K - 1]
                keep_q.append(qs[fail])
                keep_j.append(js[fail])
                done += int((~fail).sum())
            else:
                done += qs.numel()
    if keep_q:
        return torch.cat(keep_q), torch.cat(keep_j), done
    empty = torch.empty(0, dtype=torch.long, device=device)
    return empty, empty, done
