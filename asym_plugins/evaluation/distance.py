"""Pairwise distances between query and gallery features (torch, chunked over queries)."""
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F

ArrayLike = Union[np.ndarray, torch.Tensor]

DISTANCE_METRICS = ('euclidean', 'sqeuclidean', 'cosine')


def _as_feature_tensor(x: ArrayLike, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    elif not isinstance(x, torch.Tensor):
        raise TypeError(f'{name} must be a numpy array or a torch tensor, got {type(x).__name__}')
    if x.dim() != 2:
        raise ValueError(f'{name} must be 2-D (num_samples, dim), got shape {tuple(x.shape)}')
    if not x.is_floating_point():
        x = x.float()
    bad = ~torch.isfinite(x).all(dim=1)
    if bool(bad.any()):
        rows = torch.nonzero(bad).flatten()[:5].tolist()
        raise ValueError(
            f'{name} has {int(bad.sum())} feature row(s) with NaN/inf values (first rows: {rows}); '
            'check the model output (e.g. a diverged loss or an fp16 overflow) before evaluating')
    return x


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Row-wise L2 normalisation (a zero row stays zero)."""
    return F.normalize(x, p=2, dim=1, eps=eps)


def compute_distance(q: ArrayLike, g: ArrayLike, metric: str = 'euclidean',
                     chunk_size: int = 4096) -> torch.Tensor:
    """Distance matrix between query and gallery features, smaller = more similar.

    ``'euclidean'`` is the true L2 distance, ``'sqeuclidean'`` its square (what torchreid calls
    ``'euclidean'``; same ranking), ``'cosine'`` is ``1 - cos``. The work is chunked over the
    queries so a chunk of ``chunk_size x num_gallery`` is the largest temporary; the result lives on
    ``q``'s device with ``q``'s floating dtype (float32 for integer input).

    Args:
        q (Tensor | ndarray): query features ``(m, d)``.
        g (Tensor | ndarray): gallery features ``(n, d)``.
        metric (str): ``'euclidean'`` | ``'sqeuclidean'`` | ``'cosine'``.
        chunk_size (int): queries per chunk.

    Returns:
        Tensor: ``(m, n)`` distances.

    Raises:
        ValueError: unknown metric, dimension mismatch, or NaN/inf features.

    Examples::
        >>> q, g = torch.randn(4, 8), torch.randn(10, 8)
        >>> compute_distance(q, g, metric='cosine').shape
        torch.Size([4, 10])
    """
    if metric not in DISTANCE_METRICS:
        raise ValueError(f'metric must be one of {DISTANCE_METRICS}, got {metric!r}')
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    q = _as_feature_tensor(q, 'q')
    g = _as_feature_tensor(g, 'g')
    if q.shape[1] != g.shape[1]:
        raise ValueError(f'q and g feature dims differ: {q.shape[1]} vs {g.shape[1]}')
    g = g.to(device=q.device, dtype=q.dtype)
    if metric == 'cosine':
        q, g = l2_normalize(q), l2_normalize(g)
    else:
        g_sq = g.pow(2).sum(dim=1)
    out = torch.empty(q.shape[0], g.shape[0], dtype=q.dtype, device=q.device)
    gt = g.t()
    for start in range(0, q.shape[0], chunk_size):
        qc = q[start:start + chunk_size]
        block = out[start:start + chunk_size]
        if metric == 'cosine':
            torch.matmul(qc, gt, out=block)
            block.neg_().add_(1.0)
        else:
            # ||q||^2 + ||g||^2 - 2 q.g, clamped: rounding can make it slightly negative.
            torch.addmm(qc.pow(2).sum(dim=1, keepdim=True) + g_sq[None], qc, gt,
                        beta=1.0, alpha=-2.0, out=block)
            block.clamp_(min=0)
            if metric == 'euclidean':
                block.sqrt_()
    return out
