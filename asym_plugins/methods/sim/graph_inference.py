"""SIM step 1: similarity-graph inference, ``d_S`` (torch only; no mmengine/torchreid).

Two behaviours (see :func:`asym_plugins.methods.sim.similarity_inference`):

``official`` (the authors' released code, METHODS.md section 3 item 1)
    For each gallery item ``g_j`` take its ``n_graph`` nearest gallery items ``T_j`` (ranked by
    ``D_gg[j, :]``, ``g_j`` itself included as its own nearest neighbour when ``D_gg[j, j] = 0``);
    ``d_S[i, j] = mean of the K smallest of D_qg[i, t] + lam * D_gg[j, t] over t in T_j``.

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

from typing import Dict, Optional

import torch

from ._kernels import kmin_sum_planes, plan_cost, plane_block_rows, row_chunks, topk_smallest

__all__ = ['official_graph_distance', 'equations_graph_distance', 'gallery_neighbours']


def gallery_neighbours(dist_gg: torch.Tensor, n: int, budget: int) -> torch.Tensor:
    """``(Ng, n)`` indices of each gallery item's ``n`` nearest gallery items under ``D_gg`` rows
    (stable order: ties broken by the lower index)."""
    ng = dist_gg.shape[0]
    out = torch.empty((ng, n), dtype=torch.long, device=dist_gg.device)
    for r0, r1 in row_chunks(ng, ng, budget):
        out[r0:r1] = topk_smallest(dist_gg[r0:r1], n)[1]
    return out


def official_graph_distance(dist_qg: torch.Tensor, dist_gg: torch.Tensor, lam: float, K: int,
                            n_graph: int, budget: int,
                            neighbours: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``d_S`` of the released code (see module docstring). Returns ``(Nq, Ng)`` in the input dtype.

    ``neighbours`` may pass precomputed :func:`gallery_neighbours` ``(Ng, n_graph)``.
    """
    nq, ng = dist_qg.shape
    n = min(int(n_graph), ng)
    T = gallery_neighbours(dist_gg, n, budget) if neighbours is None else neighbours
    B = dist_gg.gather(1, T) * lam  # fl(lam * D_gg[j, t]), (Ng, n)
    qgT = dist_qg.t().contiguous()  # (Ng, Nq): column t of D_qg is a contiguous row
    out = torch.empty((nq, ng), dtype=dist_qg.dtype, device=dist_qg.device)
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
        a = acc[:c]
        kmin_sum_planes(P, K, spare[:c], a)
        a.div_(K)
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
