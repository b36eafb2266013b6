"""Retrieval core: CMC, mAP and mINP from a distance matrix, vectorised and chunked over queries.

Protocol building blocks (``docs/datasets.md``, "The standard protocol"):

* the gallery is ranked by ascending distance with a **stable** sort: ties keep the gallery order
  (lower gallery index first). torchreid's ``np.argsort`` (quicksort) breaks ties arbitrarily, so
  only tie-free matrices give bit-identical rankings;
* an *exclusion* mask removes gallery items from a query's ranking before anything is counted
  (market rule: same pid AND same camid; SYSU-MM01: every cam-2 image for a cam-3 query);
* a query with no positive left is *skipped*: it counts in none of the means, and the number of
  skipped queries is logged and returned (``RankResult.num_skipped``);
* CMC@k = share of valid queries whose first positive is within the top k (optionally counted on
  an identity-de-duplicated list, SYSU-MM01); AP = mean over positives of precision at that
  positive; INP (AGW) = num_positives / (1-based rank of the last positive).

Speed: per chunk of queries, the same-pid pairs are found sparsely (no dense pid comparison),
one dense pass marks the *candidates* (kept items no farther than the query's last positive) and
only those are sorted; a full row sort is used only for identity de-duplication. Work runs on
``distmat``'s device (CUDA tensors stay on the GPU); on CPU the dense compare/nonzero pass uses
numpy, which is several times faster there. Only per-query vectors span the whole query set.

Threads: on CPU the evaluation runs with one intra-op thread (torch's setting is restored
afterwards). Its kernels are short and memory-bound, so a second thread gains little, while on a
busy machine (data-loader workers, CI) torch's threads spin-wait at every op's barrier: at
Market scale on a busy 2-core machine, 2 threads were 14x slower than 1, and 83x beside two
busy processes, before this (``tools/benchmarks/bench_eval.py``).
"""
import contextlib
import logging
from typing import Callable, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.logging import print_log

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence[int]]
#: ``exclude(rows: slice) -> BoolTensor (len(rows), num_gallery)``; True removes the gallery item
#: (in gallery order) from the ranking of the queries ``rows``.
ExcludeFn = Callable[[slice], torch.Tensor]

_CHUNK_ELEMENTS = 1 << 22  # ~4M distances per chunk: 16 MB per float32 temporary
_CPU_THREADS = 1  # intra-op threads of the CPU evaluation (see the module docstring)


@contextlib.contextmanager
def _cpu_threads(device: torch.device, num: int = _CPU_THREADS):
    """Run the block with ``num`` torch intra-op threads on CPU (restored afterwards)."""
    before = torch.get_num_threads()
    if device.type != 'cpu' or before == num:
        yield
        return
    torch.set_num_threads(num)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class QueryStats(NamedTuple):
    """Per-query results (tensors of shape ``(num_query,)``).

    ``first_hit``: 0-based rank of the first positive in the CMC list (-1: no positive);
    ``ap`` / ``inp``: float64 AP and INP (0 where no positive); ``num_pos``: positives kept.
    """
    first_hit: torch.Tensor
    ap: torch.Tensor
    inp: torch.Tensor
    num_pos: torch.Tensor

    @property
    def valid(self) -> torch.Tensor:
        return self.num_pos > 0


class RankResult(tuple):
    """``(cmc, mAP, mINP)`` that also carries how many queries were evaluated.

    It unpacks as exactly three values (``cmc, mAP, mINP = evaluate_rank(...)``); the extra
    attributes are ``num_valid``, ``num_skipped`` and ``per_query`` (a :class:`QueryStats` of
    numpy arrays when ``return_per_query=True``, else ``None``).
    """

    def __new__(cls, cmc: np.ndarray, mAP: float, mINP: float, num_valid: int = 0,
                num_skipped: int = 0, per_query: Optional[QueryStats] = None,
                num_gallery: Optional[int] = None):
        self = super().__new__(cls, (cmc, mAP, mINP))
        self.num_valid = num_valid
        self.num_skipped = num_skipped
        self.per_query = per_query
        self.num_gallery = num_gallery
        return self

    def __reduce__(self):
        return (RankResult, (*self, self.num_valid, self.num_skipped, self.per_query,
                             self.num_gallery))

    @property
    def cmc(self) -> np.ndarray:
        return self[0]

    @property
    def mAP(self) -> float:
        return self[1]

    @property
    def mINP(self) -> float:
        return self[2]

    def to_dict(self, ranks: Sequence[int] = (1, 5, 10), percent: bool = True) -> dict:
        """``{'R1': .., 'R5': .., 'mAP': .., 'mINP': ..}`` (x100 when ``percent``).

        A rank beyond a gallery smaller than it reads the last CMC value (every gallery item is
        within that rank)."""
        scale = 100.0 if percent else 1.0
        out = {}
        for k in ranks:
            if k > len(self.cmc):
                if self.num_gallery is None or len(self.cmc) < self.num_gallery:
                    raise ValueError(f'rank {k} > max_rank {len(self.cmc)} of this result')
                out[f'R{k}'] = float(self.cmc[-1]) * scale
                continue
            out[f'R{k}'] = float(self.cmc[k - 1]) * scale
        out['mAP'] = self.mAP * scale
        out['mINP'] = self.mINP * scale
        return out

    def __repr__(self) -> str:
        return (f'RankResult(R1={float(self.cmc[0]):.4f}, mAP={self.mAP:.4f}, '
                f'mINP={self.mINP:.4f}, num_valid={self.num_valid}, '
                f'num_skipped={self.num_skipped})')


# --------------------------------------------------------------------------- input handling
def _as_tensor(x, name: str, device=None, dtype=None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x
    else:
        t = torch.as_tensor(np.asarray(x))
    if device is not None or dtype is not None:
        t = t.to(device=device, dtype=dtype)
    return t


def _check_ids(x, name: str, expected: int, device) -> torch.Tensor:
    t = _as_tensor(x, name)
    if t.dim() != 1:
        t = t.reshape(-1)
    if t.numel() != expected:
        raise ValueError(f'{name} has {t.numel()} entries but distmat implies {expected}')
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f'{name} must hold integers, got dtype {t.dtype}')
    return t.to(device=device, dtype=torch.long)


def _check_distmat(distmat) -> torch.Tensor:
    d = _as_tensor(distmat, "distmat").detach()
    if d.dim() != 2:
        raise ValueError('distmat must be 2-D (num_query, num_gallery), got shape '
                         f'{tuple(d.shape)}')
    if d.shape[0] == 0:
        raise ValueError('distmat has no query rows: the query set is empty')
    if d.shape[1] == 0:
        raise ValueError('distmat has no gallery columns: the gallery set is empty')
    if not d.is_floating_point() or d.dtype in (torch.float16, torch.bfloat16):
        d = d.float()
    return d


def _auto_chunk(chunk_size: Optional[int], num_gallery: int) -> int:
    if chunk_size is None:
        return max(1, _CHUNK_ELEMENTS // max(num_gallery, 1))
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    return int(chunk_size)


def _clamp_max_rank(max_rank: int, num_gallery: int) -> int:
    if max_rank < 1:
        raise ValueError(f'max_rank must be >= 1, got {max_rank}')
    if num_gallery < max_rank:
        print_log(f'max_rank={max_rank} > number of gallery samples ({num_gallery}); '
                  f'clamping max_rank to {num_gallery}', logger='current', level=logging.WARNING)
        return num_gallery
    return max_rank


# --------------------------------------------------------------------------- building blocks
def ranked_match_stats(matches: torch.Tensor, keep: Optional[torch.Tensor] = None,
                       cmc_keep: Optional[torch.Tensor] = None) -> QueryStats:
    """Per-query statistics from match flags already in ranked order.

    Args:
        matches (BoolTensor): ``(nq, ng)``, ``matches[i, r]`` = the r-th ranked gallery item of
            query i has the query's identity.
        keep (BoolTensor, optional): ``(nq, ng)`` in the same ranked order; False removes the item
            from the ranking (exclusion rule). Used for AP, INP and CMC.
        cmc_keep (BoolTensor, optional): extra mask applied to the CMC list only (e.g. the
            identity de-duplication of SYSU-MM01, see :func:`first_occurrence_mask`).

    Returns:
        QueryStats: tensors of shape ``(nq,)``.

    Examples::
        >>> m = torch.tensor([[False, True, True]])
        >>> ranked_match_stats(m).ap  # (1/2 + 2/3) / 2
        tensor([0.5833], dtype=torch.float64)
    """
    if matches.dim() != 2:
        raise ValueError(f'matches must be 2-D, got shape {tuple(matches.shape)}')
    matches = matches.bool()
    nq, ng = matches.shape
    if keep is None:
        m = matches
        kpos = torch.arange(ng, device=matches.device).expand(nq, ng)
    else:
        keep = keep.bool()
        m = matches & keep
        kpos = keep.cumsum(1) - 1  # position in the kept list
    num_pos = m.sum(1)
    hits = m.cumsum(1)
    ap = torch.where(m, hits.double() / (kpos + 1).double(), 0.0).sum(1)
    ap = ap / num_pos.clamp(min=1)
    last = torch.where(m, kpos, -1).amax(1)
    inp = torch.where(num_pos > 0, num_pos.double() / (last + 1).double(), 0.0)
    if cmc_keep is None:
        first = torch.where(m, kpos, ng).amin(1)
    else:
        ck = cmc_keep.bool() if keep is None else cmc_keep.bool() & keep
        cpos = ck.cumsum(1) - 1
        first = torch.where(m & ck, cpos, ng).amin(1)
    first = torch.where(num_pos > 0, first, -1)
    return QueryStats(first, ap, inp, num_pos)


def first_occurrence_mask(labels: torch.Tensor, keep: Optional[torch.Tensor] = None,
                          num_labels: Optional[int] = None) -> torch.Tensor:
    """True at the first (best-ranked) kept occurrence of each label in every row.

    This is the identity-level CMC of SYSU-MM01 (MATLAB ``unique(..., 'stable')``, python
    ``new_cmc``): after the exclusion, repeated gallery pids are dropped keeping the first one.

    Args:
        labels (LongTensor): ``(nq, ng)`` gallery labels in ranked order.
        keep (BoolTensor, optional): ``(nq, ng)``; excluded items are never a first occurrence.
        num_labels (int, optional): if given, labels are assumed to lie in ``[0, num_labels)``.

    Examples::
        >>> first_occurrence_mask(torch.tensor([[7, 3, 7, 3, 5]]))
        tensor([[ True,  True, False, False,  True]])
    """
    nq, ng = labels.shape
    if num_labels is None:
        _, labels = torch.unique(labels, return_inverse=True)
        num_labels = int(labels.max()) + 1 if labels.numel() else 0
    pos = torch.arange(ng, device=labels.device).expand(nq, ng)
    src = pos if keep is None else torch.where(keep, pos, ng)
    firsts = torch.full((nq, num_labels), ng, dtype=torch.long, device=labels.device)
    firsts.scatter_reduce_(1, labels, src, reduce='amin')
    mask = firsts.gather(1, labels) == pos
    return mask if keep is None else mask & keep


def summarize_stats(stats: QueryStats, max_rank: int, num_gallery: int,
                    return_per_query: bool = False, what: str = 'evaluation') -> RankResult:
    """Aggregate per-query stats over the valid queries into a :class:`RankResult`.

    Raises ``ValueError`` when no query has a positive; logs the count of skipped queries.
    """
    valid = stats.valid
    num_valid = int(valid.sum())
    num_skipped = int(valid.numel() - num_valid)
    if num_valid == 0:
        raise ValueError(
            f'{what}: none of the {valid.numel()} queries has a valid match in the gallery '
            '(after the exclusion rule); check that query and gallery share identities and '
            'that pids/camids are passed in the right order')
    if num_skipped:
        print_log(f'{what}: {num_skipped} of {valid.numel()} queries have no valid match in the '
                  'gallery and were skipped', logger='current', level=logging.WARNING)
    counts = torch.bincount(stats.first_hit[valid], minlength=num_gallery)
    cmc = (counts[:max_rank].cumsum(0).double() / num_valid).cpu().numpy().astype(np.float32)
    mAP = float(stats.ap[valid].mean())
    mINP = float(stats.inp[valid].mean())
    per_query = None
    if return_per_query:
        per_query = QueryStats(*(t.cpu().numpy() for t in stats))
    return RankResult(cmc, mAP, mINP, num_valid, num_skipped, per_query, num_gallery)


# --------------------------------------------------------------------------- chunk kernels
def _stats_by_sorting(d: torch.Tensor, qp: torch.Tensor, g_labels: torch.Tensor,
                      excl: Optional[torch.Tensor], dedup: bool,
                      num_labels: Optional[int]) -> QueryStats:
    """Full stable sort of each row; needed for identity de-duplication."""
    order = torch.sort(d, dim=1, stable=True).indices
    ranked = g_labels[order]
    matches = ranked == qp[:, None]
    keep = None if excl is None else ~excl.gather(1, order)
    cmc_keep = first_occurrence_mask(ranked, keep, num_labels) if dedup else None
    return ranked_match_stats(matches, keep, cmc_keep)


class _Pairs(NamedTuple):
    """(query, gallery) pairs with the same pid, grouped by query (``offsets``: ``(nq + 1,)``)."""
    q: torch.Tensor
    g: torch.Tensor
    same_cam: Optional[torch.Tensor]
    offsets: torch.Tensor


def _same_pid_pairs(q: torch.Tensor, g: torch.Tensor, qc: Optional[torch.Tensor],
                    gc: Optional[torch.Tensor]) -> _Pairs:
    """Every (query, gallery) pair sharing a pid, without touching the dense matrix."""
    g_sorted, g_order = torch.sort(g, stable=True)
    lo = torch.searchsorted(g_sorted, q, right=False)
    hi = torch.searchsorted(g_sorted, q, right=True)
    counts = hi - lo
    offsets = torch.zeros(q.numel() + 1, dtype=torch.long, device=q.device)
    offsets[1:] = counts.cumsum(0)
    pq = torch.repeat_interleave(torch.arange(q.numel(), device=q.device), counts)
    within = torch.arange(pq.numel(), device=q.device) - offsets[pq]
    pg = g_order[lo[pq] + within]
    same_cam = None if qc is None else gc[pg] == qc[pq]
    return _Pairs(pq, pg, same_cam, offsets)


def _stats_by_candidates(d: torch.Tensor, pq: torch.Tensor, pg: torch.Tensor,
                         pexcl: Optional[torch.Tensor],
                         excl: Optional[torch.Tensor]) -> QueryStats:
    """Same result as :func:`_stats_by_sorting` (without de-duplication), much cheaper.

    ``pq`` (chunk-local query row) / ``pg`` are the same-pid pairs of the chunk, ``pexcl`` marks
    the pairs the market rule removes, ``excl`` is an optional dense exclusion mask. Only kept
    items no farther than the query's last positive can change a positive's rank, so just these
    *candidates* are sorted (flat, by (row, distance, gallery index), stable) and a positive's
    rank is its position inside its row. Ties resolve exactly as a stable sort.
    """
    c, ng = d.shape
    dev = d.device
    flat_d = d.view(-1)
    if excl is not None:
        e = excl[pq, pg]
        pexcl = e if pexcl is None else pexcl | e
    if pexcl is not None:
        kp = ~pexcl
        ex_flat = pq[pexcl] * ng + pg[pexcl]
        pq, pg = pq[kp], pg[kp]
    p_flat = pq * ng + pg
    num_pos = torch.bincount(pq, minlength=c)
    s_last = torch.full((c,), float('-inf'), dtype=d.dtype, device=dev)
    s_last.scatter_reduce_(0, pq, flat_d.index_select(0, p_flat), reduce='amax')
    # Rows without a positive keep s_last = -inf: at most -inf entries become candidates there,
    # which cannot change any statistic.
    if dev.type == 'cpu':
        # numpy's compare and flatnonzero are several times faster than torch's on CPU.
        cand = d.numpy() <= s_last.numpy()[:, None]
        if pexcl is not None:
            cand.reshape(-1)[ex_flat.numpy()] = False
        if excl is not None:
            cand &= ~excl.numpy()
        flat = torch.from_numpy(np.flatnonzero(cand))
    else:
        cand = d <= s_last[:, None]
        if pexcl is not None:
            cand.view(-1)[ex_flat] = False
        if excl is not None:
            cand &= ~excl
        flat = cand.view(-1).nonzero().squeeze(1)  # ascending: row-major order
    rows = flat // ng
    vals = flat_d.index_select(0, flat)
    if vals.dtype == torch.float32:
        # One stable sort on a packed (row, distance) int64 key: float32 bits mapped to a
        # monotone int32 (+0.0 folds -0.0 into +0.0 so they tie as in a float sort).
        bits = (vals + 0.0).view(torch.int32)
        mono = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits).long() + (1 << 31)
        o = torch.sort((rows << 32) | mono, stable=True).indices
    else:
        o = torch.sort(vals, stable=True).indices
        o = o.index_select(0, torch.sort(rows.index_select(0, o), stable=True).indices)
    sorted_pos = torch.empty_like(o)
    sorted_pos[o] = torch.arange(o.numel(), device=dev)
    counts = torch.bincount(rows, minlength=c)
    starts = counts.cumsum(0) - counts
    # Every positive is a candidate; find it among the (ascending) candidate indices.
    p_rank = (sorted_pos.index_select(0, torch.searchsorted(flat, p_flat))
              - starts.index_select(0, pq))
    o = torch.sort(pq * (ng + 1) + p_rank).indices
    p_row, p_rank = pq.index_select(0, o), p_rank.index_select(0, o)
    p_starts = num_pos.cumsum(0) - num_pos
    # index of each positive among its query's positives (0 = best ranked)
    j = torch.arange(p_rank.numel(), device=dev) - p_starts.index_select(0, p_row)
    ap = torch.zeros(c, dtype=torch.float64, device=dev)
    ap.index_add_(0, p_row, (j + 1).double() / (p_rank + 1).double())
    ap = ap / num_pos.clamp(min=1)
    first = torch.full((c,), -1, dtype=torch.long, device=dev)
    is_first = j == 0
    first[p_row[is_first]] = p_rank[is_first]
    inp = torch.zeros(c, dtype=torch.float64, device=dev)
    is_last = j == num_pos.index_select(0, p_row) - 1
    inp[p_row[is_last]] = (j[is_last] + 1).double() / (p_rank[is_last] + 1).double()
    return QueryStats(first, ap, inp, num_pos)


def _check_no_nan(dc: torch.Tensor, rows: slice) -> None:
    # A sum is one fast reduction; only a non-finite sum needs the exact (slower) test.
    if dc.device.type == 'cpu':
        x = dc.numpy()
        bad = not np.isfinite(x.sum()) and bool(np.isnan(x).any())
    else:
        bad = not bool(torch.isfinite(dc.sum())) and bool(torch.isnan(dc).any())
    if bad:
        raise ValueError(f'distmat has NaN values (query rows {rows.start}..{rows.stop - 1})')


# --------------------------------------------------------------------------- public API
def evaluate_ranking(distmat, q_pids: ArrayLike, g_pids: ArrayLike,
                     q_camids: Optional[ArrayLike] = None, g_camids: Optional[ArrayLike] = None,
                     exclude: Optional[ExcludeFn] = None, dedup_cmc: bool = False,
                     max_rank: int = 50, chunk_size: Optional[int] = None,
                     return_per_query: bool = False, method: str = 'auto',
                     what: str = 'evaluate_ranking') -> RankResult:
    """Generic ranking evaluation: market rule, extra exclusion rule, identity-level CMC.

    Args:
        distmat (Tensor | ndarray): ``(nq, ng)`` distances, smaller = better.
        q_pids, g_pids: identities (integers).
        q_camids, g_camids (optional): when given, the market rule applies (gallery items with
            the query's pid AND camid are removed). Give both or neither.
        exclude (callable, optional): extra rule, ``exclude(rows: slice) -> BoolTensor
            (rows, ng)`` in gallery order on ``distmat``'s device; True removes a gallery item
            for that query (e.g. SYSU-MM01's cam-3 / cam-2 rule).
        dedup_cmc (bool): count CMC on the identity-de-duplicated ranking (SYSU-MM01); mAP and
            mINP always use the full ranking.
        max_rank (int): length of the CMC curve (clamped to ``ng`` with a warning).
        chunk_size (int, optional): queries per chunk (default: about 4M distances per chunk).
        return_per_query (bool): attach per-query arrays as ``result.per_query``.
        method (str): ``'auto'`` | ``'sort'`` (full stable sort of each row) | ``'candidates'``
            (sort only the kept items up to each query's last positive; no ``dedup_cmc``).
            Both give identical results; ``'auto'`` picks ``'candidates'`` unless ``dedup_cmc``.
        what (str): name used in log and error messages.

    Returns:
        RankResult: unpacks as ``cmc (max_rank,) float32, mAP, mINP`` (fractions, not percent).

    Examples::
        >>> d = torch.rand(5, 20)
        >>> cmc, mAP, mINP = evaluate_ranking(d, torch.arange(5), torch.arange(20) % 5,
        ...                                   max_rank=10)
    """
    d = _check_distmat(distmat)
    nq, ng = d.shape
    dev = d.device
    q = _check_ids(q_pids, 'q_pids', nq, dev)
    g = _check_ids(g_pids, 'g_pids', ng, dev)
    if (q_camids is None) != (g_camids is None):
        raise ValueError('give both q_camids and g_camids, or neither')
    qc = gc = None
    if q_camids is not None:
        qc = _check_ids(q_camids, 'q_camids', nq, dev)
        gc = _check_ids(g_camids, 'g_camids', ng, dev)
    max_rank = _clamp_max_rank(max_rank, ng)
    if method == 'auto':
        method = 'sort' if dedup_cmc else 'candidates'
    if method not in ('sort', 'candidates'):
        raise ValueError(f"method must be 'auto', 'sort' or 'candidates', got {method!r}")
    if method == 'candidates' and dedup_cmc:
        raise ValueError("dedup_cmc needs method='sort'")
    num_labels = None
    g_labels, q_labels = g, q
    if dedup_cmc:
        uniq, g_labels = torch.unique(g, return_inverse=True)
        num_labels = uniq.numel()
        # Map query pids into the gallery's label space (-1: identity absent from the gallery).
        idx = torch.searchsorted(uniq, q).clamp(max=num_labels - 1)
        q_labels = torch.where(uniq[idx] == q, idx, -1)
    with _cpu_threads(dev):
        stats = _chunked_stats(d, q, g, qc, gc, q_labels, g_labels, num_labels, exclude,
                               dedup_cmc, method, _auto_chunk(chunk_size, ng))
        return summarize_stats(stats, max_rank, ng, return_per_query, what)


def _chunked_stats(d, q, g, qc, gc, q_labels, g_labels, num_labels, exclude, dedup_cmc, method,
                   step) -> QueryStats:
    """Per-query stats of :func:`evaluate_ranking`, one chunk of queries at a time."""
    nq, ng = d.shape
    dev = d.device
    pairs = _same_pid_pairs(q, g, qc, gc) if method == 'candidates' else None
    parts = []
    for start in range(0, nq, step):
        rows = slice(start, min(start + step, nq))
        dc = d[rows].contiguous()
        _check_no_nan(dc, rows)
        excl = None
        if exclude is not None:
            excl = exclude(rows).to(device=dev, dtype=torch.bool)
            if excl.shape != dc.shape:
                raise ValueError(f'exclude() returned shape {tuple(excl.shape)}, '
                                 f'expected {tuple(dc.shape)}')
        if method == 'sort':
            if qc is not None:
                market = (g[None, :] == q[rows, None]) & (gc[None, :] == qc[rows, None])
                excl = market if excl is None else excl | market
            parts.append(_stats_by_sorting(dc, q_labels[rows], g_labels, excl, dedup_cmc,
                                           num_labels))
        else:
            a, b = int(pairs.offsets[rows.start]), int(pairs.offsets[rows.stop])
            pexcl = None if pairs.same_cam is None else pairs.same_cam[a:b]
            parts.append(_stats_by_candidates(dc, pairs.q[a:b] - rows.start, pairs.g[a:b],
                                              pexcl, excl))
    return QueryStats(*(torch.cat(ts) for ts in zip(*parts)))


def market_exclusion(q_pids, g_pids, q_camids, g_camids, device=None) -> ExcludeFn:
    """The market rule as a dense ``exclude(rows)`` callable: drop gallery items with the
    query's pid AND camid (``docs/datasets.md``). :func:`evaluate_rank` applies the same rule
    sparsely (faster); this form composes with other rules.

    Examples::
        >>> ex = market_exclusion([1], [1, 1, 2], [0], [0, 1, 0])
        >>> ex(slice(0, 1))
        tensor([[ True, False, False]])
    """
    qp, gp, qc, gc = (torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x,
                                      device=device).long().reshape(-1)
                      for x in (q_pids, g_pids, q_camids, g_camids))

    def exclude(rows: slice) -> torch.Tensor:
        return (gp[None, :] == qp[rows, None]) & (gc[None, :] == qc[rows, None])

    return exclude


def evaluate_rank(distmat, q_pids: ArrayLike, g_pids: ArrayLike, q_camids: ArrayLike,
                  g_camids: ArrayLike, max_rank: int = 50, return_per_query: bool = False,
                  chunk_size: Optional[int] = None) -> RankResult:
    """CMC, mAP and mINP with the standard (Market-1501) protocol.

    Gallery items with the query's pid AND camid are excluded; a query without any valid match
    is skipped and counted (``result.num_skipped``, also logged). Ties are ranked by a stable
    sort (lower gallery index first). Runs in torch on ``distmat``'s device, chunked over queries
    so memory stays bounded; the result matches torchreid's python ``evaluate_rank`` (which has
    no mINP) on tie-free matrices.

    Args:
        distmat (Tensor | ndarray): ``(num_query, num_gallery)`` distances.
        q_pids, g_pids, q_camids, g_camids: 1-D integer arrays/tensors.
        max_rank (int): CMC length; clamped to ``num_gallery`` with a warning.
        return_per_query (bool): attach per-query ``first_hit``/``ap``/``inp``/``num_pos``
            (numpy) as ``result.per_query``.
        chunk_size (int, optional): queries per chunk.

    Returns:
        RankResult: ``cmc`` (``(max_rank,)`` float32), ``mAP``, ``mINP`` (fractions in [0, 1]);
        also ``num_valid`` / ``num_skipped``.

    Raises:
        ValueError: empty query set, shape mismatch (names the argument), NaN distances, or no
            query with a valid match.

    Examples::
        >>> from asym_plugins.evaluation import compute_distance, evaluate_rank
        >>> distmat = compute_distance(qf, gf)
        >>> cmc, mAP, mINP = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids)
        >>> print(f'R1 {cmc[0]:.1%}  mAP {mAP:.1%}  mINP {mINP:.1%}')
    """
    return evaluate_ranking(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=max_rank,
                            chunk_size=chunk_size, return_per_query=return_per_query,
                            what='evaluate_rank')
