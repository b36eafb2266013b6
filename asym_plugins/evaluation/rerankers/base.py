"""The re-ranker interface shared by every re-ranking method (``RERANKERS`` registry).

A re-ranker is a callable ``reranker(dist_qg, dist_gg, dist_qq=None) -> dist_qg'`` taking and
returning torch distance matrices (smaller = more similar): ``dist_qg`` ``(nq, ng)``,
``dist_gg`` ``(ng, ng)``, ``dist_qq`` ``(nq, nq)``. Two class attributes tell the metrics which
extra matrices to compute (they can be large): ``needs_gg`` (default True) and ``needs_qq``
(default False); a matrix that is not needed is passed as ``None``.
"""
from typing import Any, Callable, Optional, Union

import torch

from asym_plugins.registry import RERANKERS

DistanceFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class BaseReranker:
    """Base class of re-rankers; subclasses implement :meth:`__call__`.

    Examples::
        >>> @RERANKERS.register_module()
        ... class ShiftReranker(BaseReranker):
        ...     needs_gg = False
        ...     def __call__(self, dist_qg, dist_gg=None, dist_qq=None):
        ...         return dist_qg + 1.0
    """
    needs_gg: bool = True
    needs_qq: bool = False

    def __call__(self, dist_qg: torch.Tensor, dist_gg: Optional[torch.Tensor] = None,
                 dist_qq: Optional[torch.Tensor] = None) -> torch.Tensor:
        raise NotImplementedError


def build_reranker(cfg: Union[None, dict, Callable]) -> Optional[Callable]:
    """``None`` -> ``None``; a config dict -> ``RERANKERS.build(cfg)``; a callable -> itself."""
    if cfg is None:
        return None
    if isinstance(cfg, dict):
        return RERANKERS.build(cfg)
    if callable(cfg):
        return cfg
    raise TypeError(f'reranker must be None, a config dict with a "type" registered in '
                    f'RERANKERS, or a callable; got {type(cfg).__name__}')


def rerank_distance(reranker: Any, dist_qg: torch.Tensor, q_feats: torch.Tensor,
                    g_feats: torch.Tensor, distance_fn: DistanceFn) -> torch.Tensor:
    """Apply ``reranker`` to ``dist_qg``, computing ``dist_gg`` / ``dist_qq`` with
    ``distance_fn`` only when the re-ranker's ``needs_gg`` / ``needs_qq`` asks for them."""
    dist_gg = distance_fn(g_feats, g_feats) if getattr(reranker, 'needs_gg', True) else None
    dist_qq = distance_fn(q_feats, q_feats) if getattr(reranker, 'needs_qq', False) else None
    out = reranker(dist_qg, dist_gg, dist_qq)
    if not isinstance(out, torch.Tensor):
        out = torch.as_tensor(out)
    if tuple(out.shape) != tuple(dist_qg.shape):
        raise ValueError(f'{type(reranker).__name__} returned shape {tuple(out.shape)}, '
                         f'expected {tuple(dist_qg.shape)}')
    return out
