"""MoS (Matching on Sets) set similarity: hard and soft Jaccard on pattern vectors, and the
Jaccard triplet loss (``docs/mos.md``, Method). Pure torch (no MMEngine import).

A person is a non-negative pattern vector ``g`` (C,): ``g[c]`` says how strongly pattern ``c``
is present. Two persons are compared as fuzzy sets (min = intersection, max = union).

Identity used throughout (for non-negative ``x, y`` and ``d = x - y``)::

    min(x, y) = (x + y - |d|) / 2,        max(x, y) = (x + y + |d|) / 2

so with ``S = sum_c (g1[c] + g2[c])`` and ``L = sum_c |g1[c] - g2[c]|`` (the L1 distance)::

    J = (S - L) / (S + L).

Only ``L`` needs the pair (``S`` is a sum of two per-sample totals), which is what makes the
all-pairs computation cheap in memory: ``torch.cdist(p=1)`` for the hard version, and a chunked
custom autograd kernel for the soft version (see :func:`soft_jaccard_similarity`).
"""
from typing import Optional

import torch
import torch.nn as nn

#: Element budget of one chunk of the soft kernel (chunk x M x C); 2^24 floats = 64 MB.
_CHUNK_ELEMENTS = 1 << 24


def _check_pattern_pair(a: torch.Tensor, b: torch.Tensor, name: str) -> None:
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(f'{name}: expects pattern vectors of shape (N, C) and (M, C), got '
                         f'{tuple(a.shape)} and {tuple(b.shape)}.')
    if a.shape[1] != b.shape[1]:
        raise ValueError(f'{name}: channel counts differ: {a.shape[1]} vs {b.shape[1]}.')


def _auto_chunk(chunk_size: Optional[int], n: int, m: int, c: int) -> int:
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // max(1, m * c))
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1 (rows of `a` per chunk), got {chunk_size}.')
    return min(chunk_size, max(n, 1))


def hard_jaccard_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12,
                            chunk_size: Optional[int] = None) -> torch.Tensor:
    """Hard Jaccard similarity of all pairs, MoS ``J`` (``docs/mos.md`` eq. (1)).

    ``J(g1, g2) = sum_c min(g1[c], g2[c]) / sum_c max(g1[c], g2[c])``, computed as
    ``(S - L) / (S + L)`` with ``S = sum(g1) + sum(g2)`` and ``L = ||g1 - g2||_1``
    (``torch.cdist(p=1)``, which never builds an N x M x C tensor). Two all-zero vectors have
    ``J = 0`` (the denominator is clamped at ``eps``).

    Args:
        a: (N, C) non-negative pattern vectors.
        b: (M, C) non-negative pattern vectors.
        eps: lower clamp of the denominator.
        chunk_size: rows of ``a`` per chunk (None: all at once; the output is N x M anyway).

    Returns:
        (N, M) similarities in [0, 1], dtype of ``a``.

    Examples::
        >>> hard_jaccard_similarity(torch.tensor([[1., 2.]]), torch.tensor([[2., 1.]]))
        tensor([[0.5000]])
    """
    _check_pattern_pair(a, b, 'hard_jaccard_similarity')
    b = b.to(device=a.device, dtype=a.dtype)
    sb = b.sum(dim=1)
    n = a.shape[0]
    step = n if chunk_size is None else _auto_chunk(chunk_size, n, b.shape[0], a.shape[1])
    out = torch.empty(n, b.shape[0], dtype=a.dtype, device=a.device)
    for start in range(0, n, max(step, 1)):
        ac = a[start:start + step]
        l1 = torch.cdist(ac, b, p=1)
        s = ac.sum(dim=1, keepdim=True) + sb[None]
        out[start:start + step] = (s - l1) / (s + l1).clamp(min=eps)
    return out


class _PairwiseSoftL1(torch.autograd.Function):
    """``L[n, m] = sum_c h(a[n, c] - b[m, c])``, ``h(d) = d tanh(tau d / 2)`` (a smooth ``|d|``),
    chunked over the rows of ``a``; ``h'(d) = t + (tau d / 2)(1 - t^2)``, ``t = tanh(tau d / 2)``.

    Forward and backward both loop over chunks of ``a``'s rows; backward recomputes the chunk's
    differences instead of saving them, so the autograd graph holds only ``a`` and ``b``: no
    N x M x C tensor beyond one chunk exists at any time.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, tau: float, step: int) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        ctx.tau, ctx.step = tau, step
        out = a.new_empty(a.shape[0], b.shape[0])
        for start in range(0, a.shape[0], step):
            d = a[start:start + step, None, :] - b[None, :, :]
            # h(d) = d * tanh(tau d / 2), in place on one temporary besides d.
            out[start:start + step] = torch.tanh(d * (0.5 * tau)).mul_(d).sum(dim=2)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        a, b = ctx.saved_tensors
        tau, step = ctx.tau, ctx.step
        need_a, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_a = torch.zeros_like(a) if need_a else None
        grad_b = torch.zeros_like(b) if need_b else None
        for start in range(0, a.shape[0], step):
            half = (a[start:start + step, None, :] - b[None, :, :]).mul_(0.5 * tau)
            t = torch.tanh(half)
            # h'(d) = t + (tau d / 2)(1 - t^2), built in place in `half`.
            w = half.mul_(1.0 - t * t).add_(t).mul_(grad_out[start:start + step, :, None])
            if need_a:
                grad_a[start:start + step] = w.sum(dim=1)
            if need_b:
                grad_b -= w.sum(dim=0)
        return grad_a, grad_b, None, None


def soft_jaccard_similarity(a: torch.Tensor, b: torch.Tensor, tau: float = 10.0,
                            chunk_size: Optional[int] = None, eps: float = 1e-12
                            ) -> torch.Tensor:
    """Differentiable soft Jaccard similarity of all pairs, MoS eq. (3) of ``docs/mos.md``.

    Eq. (3) (the thesis' eq. (5)):
    ``J_s = sum_c (w1min g1 + w2min g2) / sum_c (w1max g1 + w2max g2)`` with
    ``wkmin = exp(-tau gk) / sum_n exp(-tau gn)`` and ``wkmax = exp(tau gk) / sum_n exp(tau gn)``.
    For two vectors these weights are sigmoids of ``tau d`` (``d = g1 - g2``), and the numerator
    and denominator are ``(S - L_tau) / 2`` and ``(S + L_tau) / 2`` with
    ``S = sum_c (g1 + g2)`` and ``L_tau = sum_c d tanh(tau d / 2)``, a smooth L1 distance. So
    ``J_s = (S - L_tau) / (S + L_tau)`` exactly (no approximation), and ``J_s -> J`` as
    ``tau -> inf`` (``|d tanh(tau d / 2)| <= |d|``, gap at most ``0.56 / tau`` per channel).

    ``L_tau`` for all pairs is a custom autograd function chunked over the rows of ``a``: the
    largest temporary is ``chunk_size x M x C`` in forward and backward, and nothing of that
    size is kept for backward.

    Args:
        a: (N, C) non-negative pattern vectors.
        b: (M, C) non-negative pattern vectors (pass ``a`` again for a batch's N x N matrix).
        tau: temperature of eq. (2)-(3); larger is closer to the hard Jaccard. Its scale is the
            features' (J_s is not scale invariant, J is).
        chunk_size: rows of ``a`` per chunk; None picks it so a chunk has about 2^24 elements.
        eps: lower clamp of the denominator (two all-zero vectors give ``J_s = 0``).

    Returns:
        (N, M) similarities in [0, 1], differentiable w.r.t. ``a`` and ``b``.

    Examples::
        >>> a = torch.tensor([[1., 2.]])
        >>> soft_jaccard_similarity(a, torch.tensor([[2., 1.]]), tau=50.0)
        tensor([[0.5000]])
    """
    _check_pattern_pair(a, b, 'soft_jaccard_similarity')
    if tau <= 0:
        raise ValueError(f'soft_jaccard_similarity: tau must be positive, got {tau}.')
    step = _auto_chunk(chunk_size, a.shape[0], b.shape[0], a.shape[1])
    soft_l1 = _PairwiseSoftL1.apply(a, b, float(tau), step)
    s = a.sum(dim=1, keepdim=True) + b.sum(dim=1)[None]
    return (s - soft_l1) / (s + soft_l1).clamp(min=eps)


class JaccardTripletLoss(nn.Module):
    """Jaccard triplet loss of MoS, batch-hard (``docs/mos.md`` eq. (4)).

    ``D_J = 1 - J_s`` (eq. (3)); for each anchor ``n`` of a P x K identity batch the hardest
    positive ``max_{p: y_p = y_n, p != n} D_J(g_n, g_p)`` and hardest negative
    ``min_{q: y_q != y_n} D_J(g_n, g_q)``; ``L_J = mean_n [delta + D_ap - D_an]_+``.
    The mean replaces the slide's sum [ours: BoT convention, so the weight does not depend on
    the batch size]. Anchors without a positive or a negative are left out; a batch where no
    anchor has both raises ``ValueError``.

    An optional ``extra_distance`` (N, N) tensor is added to ``D_J`` before mining, e.g.
    ``lambda * CP`` for the (off by default) conflict-penalty training term.

    Args:
        margin: delta (in Jaccard-distance units, D_J in [0, 1]).
        tau: soft Jaccard temperature.
        chunk_size: see :func:`soft_jaccard_similarity`.
        loss_weight: multiplier of the returned loss.

    Shapes: ``features`` (N, C) non-negative, ``labels`` (N,); returns a scalar.

    Examples::
        >>> loss = JaccardTripletLoss(margin=0.3)
        >>> loss(torch.rand(8, 16), torch.arange(4).repeat_interleave(2)).dim()
        0
    """

    #: What a Re-ID model feeds this loss unless its config says ``input=...``: the
    #: non-negative pattern vector g.
    default_input = 'feature'

    def __init__(self, margin: float = 0.3, tau: float = 10.0, chunk_size: Optional[int] = None,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f'JaccardTripletLoss: tau must be positive, got {tau}.')
        self.margin = margin
        self.tau = tau
        self.chunk_size = chunk_size
        self.loss_weight = loss_weight

    def forward(self, features: torch.Tensor, labels: torch.Tensor,
                extra_distance: Optional[torch.Tensor] = None) -> torch.Tensor:
        if features.dim() != 2:
            raise ValueError(f'JaccardTripletLoss expects features of shape (N, C), got '
                             f'{tuple(features.shape)}.')
        labels = labels.reshape(-1)
        if labels.numel() != features.shape[0]:
            raise ValueError(f'JaccardTripletLoss: {features.shape[0]} features but '
                             f'{labels.numel()} labels.')
        same = labels[None] == labels[:, None]
        eye = torch.eye(labels.numel(), dtype=torch.bool, device=labels.device)
        is_pos, is_neg = same & ~eye, ~same
        valid = is_pos.any(dim=1) & is_neg.any(dim=1)
        if not bool(valid.any()):
            raise ValueError(
                f'JaccardTripletLoss: the batch of {labels.numel()} samples from '
                f'{int(labels.unique().numel())} identities has no anchor with both a positive '
                f'and a negative; build batches with a P x K identity sampler (K >= 2).')
        feats = features.float()
        dist = 1.0 - soft_jaccard_similarity(feats, feats, tau=self.tau,
                                             chunk_size=self.chunk_size)
        if extra_distance is not None:
            dist = dist + extra_distance
        d_ap = dist.masked_fill(~is_pos, float('-inf')).max(dim=1).values[valid]
        d_an = dist.masked_fill(~is_neg, float('inf')).min(dim=1).values[valid]
        return torch.relu(d_ap - d_an + self.margin).mean() * self.loss_weight

    def extra_repr(self) -> str:
        return f'margin={self.margin}, tau={self.tau}, loss_weight={self.loss_weight}'
