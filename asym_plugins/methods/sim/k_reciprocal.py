"""k-reciprocal re-ranking (Zhong et al., CVPR 2017), vectorised and memory-bounded.

Same result as torchreid's ``torchreid.reid.utils.rerank.re_ranking`` (float32, within float
tolerance) without its dense ``(Nq+Ng)^2`` float matrices and per-item Python loops:

* the squared, normalised distance matrix ``M'`` of the joint set (queries then gallery) is only
  ever materialised a chunk of rows at a time. Like the original, ``M' = (M**2 / colmax(M**2)).T``
  for the joint matrix ``M = [[D_qq, D_qg], [D_qg.T, D_gg]]`` (so row r of ``M'`` is column r of
  ``M``, squared and divided by that column's maximum);
* rank lists keep only the first ``max(k1 + 1, k2)`` entries. Exact ties matter only where a
  neighbour list is cut (after ``k2``, ``round(k1/2)+1`` and ``k1+1`` entries); for the rows with a
  tie there, ``tie_break='numpy'`` (default) re-ranks the row with ``numpy.argsort`` exactly as
  torchreid does (so the sets, hence the result, match torchreid), ``tie_break='index'`` keeps the
  stable order (ties broken by the lower index). Both are deterministic;
* k-reciprocal sets, their expansion and the query expansion are sparse (CSR); the Jaccard term
  ``sum_t min(V[i, t], V[j, t])`` goes through an inverted index, query chunk by query chunk.

Peak extra memory is about ``chunk_size`` floats for the dense chunks plus the sparse sets
(~ (Nq+Ng) x few hundred entries) plus the ``(Nq, Ng)`` float32 output.
No mmengine/torchreid imports.
"""
from __future__ import annotations

import numpy as np
import torch

from ._kernels import (
    SparseRows,
    _ColumnIndex,
    check_distances,
    copy_transposed,
    expand_reciprocal_sets,
    padded_to_sparse,
    reciprocal_sets,
    sparse_min_sum,
    topk_smallest,
)
from .api_utils import DEFAULT_CHUNK_SIZE, from_output, to_tensors

__all__ = ['k_reciprocal_rerank', 're_ranking']


def _joint_rows(qg, qq, gg, r0, r1, nq, out32):
    """Rows r0:r1 (all in the query block or all in the gallery block) of ``M**2`` columns,
    i.e. ``M[:, r]**2`` laid out as rows, squared in the input precision, stored as float32."""
    if r1 <= nq:
        left, right = qq[:, r0:r1].t(), qg[r0:r1]
    else:
        j0, j1 = r0 - nq, r1 - nq
        left, right = qg[:, j0:j1].t(), gg[:, j0:j1].t()
    c = r1 - r0
    buf = out32[:c]
    for part, sl in ((left, slice(0, nq)), (right, slice(nq, None))):
        transposed = part.dim() == 2 and part.stride(0) == 1 and part.shape[0] > 1
        if part.dtype == torch.float32:
            dst = buf[:, sl]
            copy_transposed(dst, part.t()) if transposed else dst.copy_(part)
            dst.mul_(dst)
        else:
            tmp = torch.empty(part.shape, dtype=part.dtype, device=part.device)
            copy_transposed(tmp, part.t()) if transposed else tmp.copy_(part)
            tmp.mul_(tmp)
            buf[:, sl] = tmp.to(torch.float32)
    return buf


def _joint_values(qg, qq, gg, nq, rows, cols):
    """``M[cols, rows]**2`` (elementwise, computed in the input precision), as float32."""
    out = torch.empty(rows.shape, dtype=qg.dtype, device=qg.device)
    rq, cq = rows < nq, cols < nq
    for mr, mc, src, fr, fc in ((True, True, qq, 'c', 'r'), (True, False, qg, 'r', 'c'),
                                (False, True, qg, 'c', 'r'), (False, False, gg, 'c', 'r')):
        m = (rq if mr else ~rq) & (cq if mc else ~cq)
        if not bool(m.any()):
            continue
        r = rows[m] - (0 if mr else nq)
        c = cols[m] - (0 if mc else nq)
        # M[c, r]: for (query row, gallery col) this is D_qg[r, c]; otherwise src[c, r]
        out[m] = src[r, c] if (fr == 'r') else src[c, r]
    return (out * out).to(torch.float32)


def k_reciprocal_rerank(dist_qg, dist_qq, dist_gg, k1: int = 20, k2: int = 6,
                        lambda_value: float = 0.3, chunk_size: int = DEFAULT_CHUNK_SIZE,
                        device=None, tie_break: str = 'numpy'):
    """k-reciprocal re-ranking of a query-gallery distance matrix (Zhong et al. 2017).

    Args:
        dist_qg, dist_qq, dist_gg: ``(Nq, Ng)``, ``(Nq, Nq)``, ``(Ng, Ng)`` distances (numpy arrays
            or torch tensors; all finite).
        k1, k2, lambda_value: as in the paper / torchreid (k1=20, k2=6, lambda=0.3).
        chunk_size: element budget of the largest dense temporary (bounds memory).
        device: where to compute (default: the device of ``dist_qg``, CPU for numpy).
        tie_break: ``'numpy'`` (match torchreid's ``np.argsort`` order among exactly tied
            distances at a neighbour-list cut) or ``'index'`` (lower index first).

    Returns:
        ``(Nq, Ng)`` float32 re-ranked distances: a numpy array for numpy ``dist_qg``, else a torch
        tensor on ``dist_qg``'s device. Equals ``torchreid``'s ``re_ranking`` within float32
        rounding (up to the order of exactly tied distances).
    """
    if int(k1) < 1 or int(k2) < 1:
        raise ValueError(f'k1 and k2 must be >= 1, got k1={k1}, k2={k2}')
    if not 0.0 <= float(lambda_value) <= 1.0:
        raise ValueError(f'lambda_value must lie in [0, 1], got {lambda_value}')
    if tie_break not in ('numpy', 'index'):
        raise ValueError(f"tie_break must be 'numpy' or 'index', got {tie_break!r}")
    k1, k2, lam = int(k1), int(k2), float(lambda_value)
    (qg, qq, gg), like = to_tensors((dist_qg, dist_qq, dist_gg), ('dist_qg', 'dist_qq', 'dist_gg'),
                                    device)
    nq, ng = qg.shape
    if nq < 1 or ng < 1:
        raise ValueError(f'dist_qg must have at least one query and one gallery item, '
                         f'got shape {tuple(qg.shape)}')
    if qq.shape != (nq, nq):
        raise ValueError(f'dist_qq must be (Nq, Nq) = ({nq}, {nq}) to match dist_qg '
                         f'{tuple(qg.shape)}, '
                         f'got {tuple(qq.shape)}')
    if gg.shape != (ng, ng):
        raise ValueError(f'dist_gg must be (Ng, Ng) = ({ng}, {ng}) to match dist_qg '
                         f'{tuple(qg.shape)}, '
                         f'got {tuple(gg.shape)}')
    budget = max(1024, int(chunk_size))
    for x, name in ((qg, 'dist_qg'), (qq, 'dist_qq'), (gg, 'dist_gg')):
        check_distances(x, name, budget, what='k-reciprocal re-ranking')
    with torch.no_grad():
        out = _k_reciprocal(qg, qq, gg, k1, k2, lam, budget, tie_break)
    return from_output(out, like)


def _k_reciprocal(qg, qq, gg, k1, k2, lam, budget, tie_break='numpy'):
    nq, ng = qg.shape
    N = nq + ng
    device = qg.device
    n_rank = min(max(k1 + 1, k2), N)
    kh = int(np.around(k1 / 2.))
    cuts = sorted({b for b in (k1 + 1, kh + 1, k2) if b < N})  # where neighbour lists are cut
    n_fetch = min(n_rank + 1, N)
    ranks = torch.empty((N, n_rank), dtype=torch.long, device=device)
    colmax = torch.empty((N,), dtype=torch.float32, device=device)
    # pass 1: rank lists (first n_rank of each row of M') and the column maxima
    step = max(1, budget // N)
    buf = torch.empty((min(step, N), N), dtype=torch.float32, device=device)
    for lo, hi in ((0, nq), (nq, N)):
        for r0 in range(lo, hi, step):
            r1 = min(hi, r0 + step)
            x = _joint_rows(qg, qq, gg, r0, r1, nq, buf)
            m = torch.amax(x, dim=1, keepdim=True)
            if bool((m <= 0).any()):
                raise ValueError('k_reciprocal_rerank: an item has zero distance to every item; '
                                 'cannot normalise by the column maximum')
            x.div_(m)
            vals, idx = topk_smallest(x, n_fetch)
            ranks[r0:r1] = idx[:, :n_rank]
            if tie_break == 'numpy' and cuts:
                tied = torch.zeros(r1 - r0, dtype=torch.bool, device=device)
                for b in cuts:
                    tied |= vals[:, b - 1] == vals[:, b]
                if bool(tied.any()):
                    rows = tied.nonzero().squeeze(1)
                    order = np.argsort(x[rows].cpu().numpy(), axis=1)[:, :n_rank]
                    ranks[r0 + rows] = torch.from_numpy(order.astype(np.int64)).to(device)
            colmax[r0:r1] = m.squeeze(1)
    del buf
    # k-reciprocal sets and their expansion (sparse)
    kr = min(k1, n_rank - 1)
    rec = reciprocal_sets(ranks, kr, budget)
    rec_half = reciprocal_sets(ranks, min(kh, n_rank - 1), budget)
    sets = expand_reciprocal_sets(rec, rec_half, budget)
    # weights exp(-M'[r, c]) over each expanded set, normalised to sum 1
    valid = sets >= 0
    rows = torch.arange(N, device=device).unsqueeze(1).expand_as(sets)[valid]
    cols = sets[valid]
    d = _joint_values(qg, qq, gg, nq, rows, cols) / colmax[rows]
    w = torch.zeros(sets.shape, dtype=torch.float32, device=device)
    w[valid] = torch.exp(-d)
    V = padded_to_sparse(sets, w, N).normalise_rows_()
    del sets, w, valid, rows, cols, d, rec, rec_half
    if k2 != 1:
        V = _query_expansion(V, ranks[:, :min(k2, N)], budget)
    del ranks
    # Jaccard between query rows and gallery rows of V (all N columns)
    e0 = int(V.ptr[nq])
    Vg = SparseRows(V.ptr[nq:] - e0, V.col[e0:], V.val[e0:], N)
    Vq = SparseRows(V.ptr[:nq + 1], V.col[:e0], V.val[:e0], N)
    cidx = _ColumnIndex(Vg)
    out = torch.empty((nq, ng), dtype=torch.float32, device=device)
    for r0, r1, S in sparse_min_sum(Vq, Vg, max(1, budget // 4), b_index=cidx):
        jac = 1 - S / (2. - S)
        orig = _joint_values_block(qg, r0, r1) / colmax[r0:r1].unsqueeze(1)
        out[r0:r1] = jac * (1 - lam) + orig * lam
    return out


def _joint_values_block(qg, r0, r1):
    x = qg[r0:r1]
    return (x * x).to(torch.float32)


def _query_expansion(V: SparseRows, nb: torch.Tensor, budget: int) -> SparseRows:
    """``V_qe[r] = mean_{s < k2} V[nb[r, s]]`` on CSR rows (sums in neighbour order)."""
    N, k2 = nb.shape
    device = V.col.device
    lens = V.ptr[1:] - V.ptr[:-1]
    max_len = int(lens.max()) if lens.numel() else 0
    step = max(1, budget // max(1, k2 * max_len * 4))
    ptrs = [torch.zeros(1, dtype=torch.long, device=device)]
    cols, vals = [], []
    offset = 0
    for r0 in range(0, N, step):
        r1 = min(N, r0 + step)
        src = nb[r0:r1].reshape(-1)  # rows of V to gather, row-major (r, s)
        cnt = lens[src]
        local = torch.repeat_interleave(
            torch.arange(r1 - r0, device=device).repeat_interleave(k2), cnt)
        rep = torch.repeat_interleave(torch.arange(src.numel(), device=device), cnt)
        first = torch.cumsum(cnt, 0) - cnt
        pos = V.ptr[src][rep] + (torch.arange(rep.numel(), device=device) - first[rep])
        key = local * N + V.col[pos]
        uniq, inv = torch.unique(key, sorted=True, return_inverse=True)
        acc = torch.zeros(uniq.numel(), dtype=V.val.dtype, device=device)
        acc.index_add_(0, inv, V.val[pos])
        acc /= k2
        r_of = uniq // N
        counts = torch.bincount(r_of, minlength=r1 - r0)
        ptrs.append(counts.cumsum(0) + offset)
        offset += uniq.numel()
        cols.append(uniq % N)
        vals.append(acc)
    ptr = torch.cat(ptrs)
    return SparseRows(ptr, torch.cat(cols), torch.cat(vals), V.n_cols)


def re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3):
    """Drop-in replacement for ``torchreid.reid.utils.re_ranking`` (same signature and result,
    numpy float32 out for numpy in), vectorised and memory-bounded."""
    return k_reciprocal_rerank(q_g_dist, q_q_dist, g_g_dist, k1=k1, k2=k2,
                               lambda_value=lambda_value)
