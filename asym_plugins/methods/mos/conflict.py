"""MoS pattern-conflict penalty (innovation 2): positive co-occurrence prior, CP, and test-time
re-scoring ``S = J - lambda * CP``. ``docs/mos.md`` eqs. (5)-(8). Pure torch.

Definitions (section 1, "Pattern conflict penalty"), for two pattern vectors ``g1, g2`` (C,):

* union ``u = max(g1, g2)`` (element-wise) and co-occurrence ``M(g1, g2) = u u^T`` (C x C);
* positive prior ``M^p[i, j] = max over same-identity training pairs of M[i, j]`` (a running
  max over training, :class:`PositiveCooccurrencePrior`);
* ``CP(g1, g2) = sum_{i,j} max(0, exp(eps * (M[i, j] - M^p[i, j])) - 1)``: zero while the pair's
  co-occurrences stay within what positives showed, growing exponentially with the excess
  [ours: reading of the slide's ``(M - M^p)^(-eps)``];
* ``S = J - lambda * CP``.

Top-k restriction [ours], the same in every function here: for each pair, the ``k`` channels
with the largest union value ``u`` are selected (``torch.topk`` on ``u``); the double sum runs
over the ``k x k`` entries (diagonal included) of those channels only, and ``M^p`` is gathered
at the same ``k x k`` positions. Channels outside the top-k contribute nothing: co-occurrences
of weak patterns are products of small values and carry little evidence of a conflict.
``k >= C`` (or None) gives the full C x C sum. :func:`conflict_penalty` takes the top-k of
``u`` directly; :func:`pairwise_conflict_penalty` and :func:`rescore_topr` find the same
channels from each vector's own top-k (:func:`indexed_union_top_channels`, O(k) per pair;
identical up to the order of tied values).
"""
from typing import Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn as nn

#: exp() argument clamp: exp(80) ~ 5.5e34 is finite in float32 (overflow is at ~88.7).
_MAX_EXPONENT = 80.0
#: Pairs per chunk in conflict_penalty (each holds a k x k block).
_PAIR_CHUNK = 4096


def union_top_channels(g1: torch.Tensor, g2: torch.Tensor, topk: Optional[int]
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Union ``u = max(g1, g2)`` of paired rows and its ``topk`` largest channels.

    Args:
        g1, g2: (P, C) paired pattern vectors (row p of g1 with row p of g2).
        topk: channels kept per pair; None or >= C keeps all C (in channel order).

    Returns:
        ``(values, index)``, both (P, k): ``u`` at the kept channels, and the channel indices.
    """
    u = torch.maximum(g1, g2)
    c = u.shape[1]
    if topk is None or topk >= c:
        index = torch.arange(c, device=u.device).expand(u.shape[0], c)
        return u, index
    if topk < 1:
        raise ValueError(f'topk must be >= 1 (channels of the union kept for CP), got {topk}.')
    values, index = torch.topk(u, topk, dim=1)
    return values, index


def indexed_union_top_channels(a: torch.Tensor, b: torch.Tensor, ia: torch.Tensor,
                               ib: torch.Tensor, topk: int,
                               a_top: Optional[torch.Tensor] = None,
                               b_top: Optional[torch.Tensor] = None
                               ) -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`union_top_channels` of the pairs ``(a[ia[p]], b[ib[p]])`` in ``O(k)`` per pair.

    The top-k channels of ``max(x, y)`` lie among the top-k channels of ``x`` and those of
    ``y`` (a channel outside both is beaten by k channels of ``u``), so each row's top-k is
    found once (``a_top`` (N_a, k), ``b_top`` (N_b, k), computed when None) and a pair only
    ranks its 2k candidates; a channel in both candidate lists is counted once. Equal to the
    direct computation up to the order of tied values. Differentiable w.r.t. ``a`` and ``b``.

    Returns:
        ``(values, index)``, both (P, k).
    """
    c = a.shape[1]
    if a_top is None:
        a_top = torch.topk(a.detach(), topk, dim=1).indices
    if b_top is None:
        b_top = torch.topk(b.detach(), topk, dim=1).indices
    ca, cb = a_top[ia], b_top[ib]                                   # (P, k) each
    cand = torch.cat([ca, cb], dim=1)                               # (P, 2k)
    a_flat, b_flat = a.reshape(-1), b.reshape(-1)
    u = torch.maximum(a_flat[ia[:, None] * c + cand], b_flat[ib[:, None] * c + cand])
    # b's candidates already among a's: drop them (values are >= 0, so -1 never wins).
    dup = (cb[:, :, None] == ca[:, None, :]).any(dim=2)
    u = torch.cat([u[:, :topk], u[:, topk:].masked_fill(dup, -1.0)], dim=1)
    values, sel = torch.topk(u, topk, dim=1)
    return values, cand.gather(1, sel)


def _penalty_from_top(values: torch.Tensor, index: torch.Tensor, M_p: torch.Tensor,
                      eps: float) -> torch.Tensor:
    """CP of pairs given their kept union values / channels (P, k) -> (P,).

    ``max(0, exp(x) - 1) = expm1(clamp(x, 0, 80))`` (expm1 is increasing, 0 at 0): one clamp
    does the hinge and the overflow guard.
    """
    c = M_p.shape[0]
    co = values[:, :, None] * values[:, None, :]                    # (P, k, k): M restricted
    flat = index[:, :, None] * c + index[:, None, :]
    prior = M_p.reshape(-1)[flat]                                   # (P, k, k): M^p gathered
    excess = (co - prior).mul_(eps).clamp_(min=0.0, max=_MAX_EXPONENT)
    return torch.expm1(excess).sum(dim=(1, 2))


def _check_prior(M_p: torch.Tensor, c: int, name: str) -> None:
    if M_p.shape != (c, c):
        raise ValueError(f'{name}: M_p must be ({c}, {c}) for {c}-channel patterns, '
                         f'got {tuple(M_p.shape)}.')


def conflict_penalty(g1: torch.Tensor, g2: torch.Tensor, M_p: torch.Tensor, eps: float = 1.0,
                     topk: Optional[int] = 32) -> torch.Tensor:
    """Pattern-conflict penalty CP of paired rows (``docs/mos.md`` eq. (7)).

    ``CP(g1, g2) = sum_{i,j in K} max(0, exp(eps * (u_i u_j - M^p[i, j])) - 1)`` with
    ``u = max(g1, g2)`` and ``K`` the ``topk`` channels of largest ``u`` (module docstring:
    the restriction). The exponent is clamped at 80 so that a huge excess gives a huge but
    finite penalty. Differentiable w.r.t. ``g1`` and ``g2`` (the channel choice is not).

    Args:
        g1: (P, C) or (C,) non-negative pattern vectors.
        g2: same shape as ``g1``: CP is computed for the pairs (g1[p], g2[p]).
        M_p: (C, C) positive co-occurrence prior.
        eps: sharpness of the exponential.
        topk: channels kept per pair (None: all C, i.e. the full C x C sum).

    Returns:
        (P,) penalties (a scalar tensor for (C,) inputs), >= 0.

    Examples::
        >>> M_p = torch.ones(2, 2)
        >>> conflict_penalty(torch.tensor([1., 0.]), torch.tensor([0., 1.]), M_p)  # u u^T <= 1
        tensor(0.)
    """
    squeeze = g1.dim() == 1
    if squeeze:
        g1, g2 = g1[None], g2[None]
    if g1.shape != g2.shape or g1.dim() != 2:
        raise ValueError(f'conflict_penalty: g1 and g2 must both be (P, C) (or (C,)), got '
                         f'{tuple(g1.shape)} and {tuple(g2.shape)}.')
    _check_prior(M_p, g1.shape[1], 'conflict_penalty')
    M_p = M_p.to(device=g1.device, dtype=g1.dtype)
    out = []
    for start in range(0, g1.shape[0], _PAIR_CHUNK):
        values, index = union_top_channels(g1[start:start + _PAIR_CHUNK],
                                           g2[start:start + _PAIR_CHUNK], topk)
        out.append(_penalty_from_top(values, index, M_p, eps))
    cp = torch.cat(out) if out else g1.new_zeros(0)
    return cp[0] if squeeze else cp


def _indexed_conflict_penalty(a: torch.Tensor, b: torch.Tensor, ia: torch.Tensor,
                              ib: torch.Tensor, M_p: torch.Tensor, eps: float,
                              topk: Optional[int], a_top=None, b_top=None) -> torch.Tensor:
    """CP of the pairs ``(a[ia[p]], b[ib[p]])`` -> (P,), chunked over pairs."""
    c = a.shape[1]
    out = []
    for start in range(0, ia.numel(), _PAIR_CHUNK):
        ja, jb = ia[start:start + _PAIR_CHUNK], ib[start:start + _PAIR_CHUNK]
        if topk is None or topk >= c:
            values, index = union_top_channels(a[ja], b[jb], None)
        else:
            values, index = indexed_union_top_channels(a, b, ja, jb, topk, a_top, b_top)
        out.append(_penalty_from_top(values, index, M_p, eps))
    return torch.cat(out) if out else a.new_zeros(0)


def pairwise_conflict_penalty(a: torch.Tensor, b: torch.Tensor, M_p: torch.Tensor,
                              eps: float = 1.0, topk: Optional[int] = 32) -> torch.Tensor:
    """CP of all pairs of ``a`` (N, C) and ``b`` (M, C) -> (N, M), chunked over pairs.

    Uses :func:`indexed_union_top_channels` (each row's top-k once, 2k candidates per pair).
    For training-batch sizes. Differentiable.
    """
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f'pairwise_conflict_penalty: expects (N, C) and (M, C), got '
                         f'{tuple(a.shape)} and {tuple(b.shape)}.')
    _check_prior(M_p, a.shape[1], 'pairwise_conflict_penalty')
    M_p = M_p.to(device=a.device, dtype=a.dtype)
    b = b.to(device=a.device, dtype=a.dtype)
    n, m = a.shape[0], b.shape[0]
    ia = torch.arange(n, device=a.device).repeat_interleave(m)
    ib = torch.arange(m, device=a.device).repeat(n)
    return _indexed_conflict_penalty(a, b, ia, ib, M_p, eps, topk).reshape(n, m)


def _row_topk_indices(x: torch.Tensor, k: int, chunk: int = 4096) -> torch.Tensor:
    """``torch.topk(x, k, dim=1).indices`` in row chunks (topk copies its input)."""
    return torch.cat([torch.topk(x[s:s + chunk], k, dim=1).indices
                      for s in range(0, x.shape[0], chunk)]) if x.shape[0] else \
        x.new_zeros((0, k), dtype=torch.long)


def rescore_topr(sim: torch.Tensor, qf: torch.Tensor, gf: torch.Tensor, M_p: torch.Tensor,
                 cp_lambda: float = 0.1, eps: float = 1.0, topk: Optional[int] = 32,
                 top_r: int = 50, query_chunk: int = 256) -> torch.Tensor:
    """Test-time re-scoring ``S = J - lambda * CP`` of each query's top-R candidates of ``J``.

    For every query row, the ``top_r`` gallery items of largest ``sim`` (ties: ``torch.topk``)
    get ``sim - cp_lambda * CP(q, g)``; every other entry is returned unchanged. Since
    ``CP >= 0`` a re-scored candidate can only move down, possibly below the R-th. Cost:
    ``N_q * R`` CP evaluations of ``topk x topk`` each (plus one top-k per feature row), chunked
    over ``query_chunk`` queries.

    Args:
        sim: (N_q, N_g) similarities (hard Jaccard J).
        qf: (N_q, C) query pattern vectors.
        gf: (N_g, C) gallery pattern vectors.
        M_p: (C, C) positive co-occurrence prior.
        cp_lambda: lambda.
        eps, topk: as in :func:`conflict_penalty`.
        top_r: R, candidates re-scored per query (clipped to N_g).
        query_chunk: queries per chunk.

    Returns:
        (N_q, N_g) re-scored similarities (a new tensor).
    """
    if sim.shape != (qf.shape[0], gf.shape[0]):
        raise ValueError(f'rescore_topr: sim is {tuple(sim.shape)} but there are {qf.shape[0]} '
                         f'queries and {gf.shape[0]} gallery items.')
    if top_r < 1:
        raise ValueError(f'rescore_topr: top_r must be >= 1, got {top_r}.')
    _check_prior(M_p, qf.shape[1], 'rescore_topr')
    out = sim.clone()
    r = min(top_r, sim.shape[1])
    if r == 0 or cp_lambda == 0 or sim.shape[0] == 0:
        return out
    gf = gf.to(device=qf.device, dtype=qf.dtype)
    M_p = M_p.to(device=qf.device, dtype=qf.dtype)
    q_top = g_top = None
    if topk is not None and topk < qf.shape[1]:
        q_top, g_top = _row_topk_indices(qf, topk), _row_topk_indices(gf, topk)
    for start in range(0, sim.shape[0], query_chunk):
        rows = out[start:start + query_chunk]
        top_sim, top_idx = torch.topk(rows, r, dim=1)                  # (q, R)
        ia = torch.arange(start, start + rows.shape[0], device=qf.device).repeat_interleave(r)
        cp = _indexed_conflict_penalty(qf, gf, ia, top_idx.reshape(-1).to(qf.device), M_p,
                                       eps, topk, q_top, g_top).reshape(-1, r)
        rows.scatter_(1, top_idx, top_sim - cp_lambda * cp.to(rows.dtype).to(rows.device))
    return out


class PositiveCooccurrencePrior(nn.Module):
    """The positive co-occurrence prior ``M^p`` (C x C) of MoS, a running max over training.

    ``update(features, labels)`` takes a batch, forms every same-identity pair ``(t, n)``,
    ``t < n`` (self-pairs add nothing: ``max(g_t, g_n) >= g_t``), and sets
    ``M^p <- max(decay * M^p, max_{pairs} u u^T)`` with ``u = max(g_t, g_n)``. Pairs of
    different identities are never used. ``decay = 1`` is the plain running max of the spec;
    ``decay < 1`` lets early-training activations fade [ours].

    Distributed: when ``torch.distributed`` is initialised with more than one process, the
    batch's max is all-reduced with ``ReduceOp.MAX`` before it is merged, so every rank holds
    the same buffer after every update (and DDP's buffer broadcast from rank 0 changes
    nothing). ``sync()`` max-reduces the buffer itself (e.g. after loading per-rank state).

    ``M_p`` is a registered buffer, so it is saved in and restored from checkpoints
    (``state_dict``). ``num_updates`` counts the updates that saw at least one positive pair.

    Restricted form (``update_topk=k``) [ours]: each positive pair updates only the ``k x k``
    entries of its union's top-k channels (a scatter-max), ``O(pairs * k^2)`` instead of
    ``O(pairs * C^2)``; entries never reached stay 0, i.e. "never seen co-occurring strongly".
    Take ``k`` at least the CP ``topk`` (e.g. 4x) so test pairs find the entries they read.

    Args:
        channels: C.
        decay: multiplier of the old prior at each update, in (0, 1].
        update_topk: None (full C x C update, the spec) or k for the restricted form.

    Examples::
        >>> prior = PositiveCooccurrencePrior(3)
        >>> prior.update(torch.tensor([[1., 0., 0.], [0., 2., 0.], [0., 0., 5.]]),
        ...              torch.tensor([0, 0, 1]))
        >>> prior.M_p
        tensor([[1., 2., 0.],
                [2., 4., 0.],
                [0., 0., 0.]])
    """

    def __init__(self, channels: int, decay: float = 1.0,
                 update_topk: Optional[int] = None) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f'PositiveCooccurrencePrior: channels must be >= 1, got {channels}.')
        if not 0.0 < decay <= 1.0:
            raise ValueError(f'PositiveCooccurrencePrior: decay must be in (0, 1], got {decay}.')
        self.channels = channels
        self.decay = decay
        if update_topk is not None and update_topk < 1:
            raise ValueError(f'PositiveCooccurrencePrior: update_topk must be >= 1 or None, got '
                             f'{update_topk}.')
        self.update_topk = update_topk
        self.register_buffer('M_p', torch.zeros(channels, channels))
        self.register_buffer('num_updates', torch.zeros((), dtype=torch.long))

    @staticmethod
    def positive_pairs(labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Indices ``(t, n)``, ``t < n``, of the same-label pairs of ``labels`` (N,)."""
        labels = labels.reshape(-1)
        same = labels[:, None] == labels[None, :]
        same = torch.triu(same, diagonal=1)
        t, n = torch.nonzero(same, as_tuple=True)
        return t, n

    @torch.no_grad()
    def batch_cooccurrence(self, features: torch.Tensor, labels: torch.Tensor
                           ) -> Optional[torch.Tensor]:
        """``max over positive pairs of u u^T`` (C x C) of one batch, or None without pairs."""
        t, n = self.positive_pairs(labels.to(features.device))
        if t.numel() == 0:
            return None
        u = torch.maximum(features[t], features[n]).to(self.M_p.dtype)   # (pairs, C)
        batch_max = torch.zeros_like(self.M_p)
        if self.update_topk is not None and self.update_topk < self.channels:
            values, index = torch.topk(u, self.update_topk, dim=1)
            co = values[:, :, None] * values[:, None, :]
            flat = index[:, :, None] * self.channels + index[:, None, :]
            batch_max.view(-1).scatter_reduce_(0, flat.reshape(-1), co.reshape(-1), 'amax')
            return batch_max
        # One pair at a time into a reused C x C buffer: memory-bound, and 3x faster on a CPU
        # than materialising (pairs, C, C) blocks.
        outer = torch.empty_like(self.M_p)
        for row in u:
            torch.outer(row, row, out=outer)
            torch.maximum(batch_max, outer, out=batch_max)
        return batch_max

    @staticmethod
    def _distributed() -> bool:
        return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Merge one batch: ``features`` (N, C) non-negative, ``labels`` (N,) identities.

        Collective in distributed runs (every rank must call it, as in lockstep training).
        """
        if features.dim() != 2 or features.shape[1] != self.channels:
            raise ValueError(f'PositiveCooccurrencePrior.update: features must be (N, '
                             f'{self.channels}), got {tuple(features.shape)}.')
        features = features.detach().to(self.M_p.device)
        batch_max = self.batch_cooccurrence(features, labels)
        has_pairs = torch.ones((), device=self.M_p.device) if batch_max is not None \
            else torch.zeros((), device=self.M_p.device)
        if self._distributed():
            if batch_max is None:
                batch_max = torch.zeros_like(self.M_p)
            dist.all_reduce(batch_max, op=dist.ReduceOp.MAX)
            dist.all_reduce(has_pairs, op=dist.ReduceOp.MAX)
        if not bool(has_pairs):
            return
        if self.decay != 1.0:
            self.M_p.mul_(self.decay)
        torch.maximum(self.M_p, batch_max, out=self.M_p)
        self.num_updates.add_(1)

    @torch.no_grad()
    def sync(self) -> None:
        """All-reduce(MAX) the buffer across ranks (no-op outside distributed runs)."""
        if self._distributed():
            dist.all_reduce(self.M_p, op=dist.ReduceOp.MAX)

    def extra_repr(self) -> str:
        return f'channels={self.channels}, decay={self.decay}, update_topk={self.update_topk}'
