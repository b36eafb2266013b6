"""RERANKERS entries for SIM and k-reciprocal re-ranking.

Interface (docs/CONTRACTS.md): ``reranker(dist_qg, dist_gg, dist_qq=None) -> dist_qg'`` taking and
returning torch tensors (numpy inputs are accepted too; the result is always a tensor, on the
device of ``dist_qg``). ``needs_gg`` / ``needs_qq`` tell the caller which extra distance matrices
to compute.
"""
from __future__ import annotations

from typing import Optional

import torch

from asym_plugins.evaluation.rerankers.base import BaseReranker
from asym_plugins.registry import RERANKERS

from .api import resolve_sim_params, similarity_inference
from .k_reciprocal import k_reciprocal_rerank

__all__ = ['SIMReranker', 'KReciprocalReranker']


def _as_torch(x):
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)


@RERANKERS.register_module()
class SIMReranker(BaseReranker):
    """Similarity Inference Metric re-ranker (gallery-gallery distances only).

    Args:
        mode: ``'official'`` (released code, default) or ``'equations'``.
        preset: ``'sysu_mm01'`` / ``'regdb'`` or None (SYSU-MM01 defaults).
        **hp: ``lam, K, k_q, k_g, alpha, n_graph, prune_T, components, expand, chunk_size``,
            ``device`` and ``progress`` (see :func:`asym_plugins.methods.sim.similarity_inference`;
            ``progress`` defaults to None here: a bar on a terminal only).
    """

    needs_qq = False
    needs_gg = True

    def __init__(self, mode: str = 'official', preset: Optional[str] = None, **hp):
        self.device = hp.pop('device', None)
        self.progress = hp.pop('progress', None)   # None: a bar on a terminal only
        self.params = resolve_sim_params(mode, preset, **hp)  # validates eagerly
        self.mode, self.preset, self.hp = mode, preset, hp

    def __call__(self, dist_qg, dist_gg=None, dist_qq=None) -> torch.Tensor:
        if dist_gg is None:
            raise ValueError('SIMReranker needs dist_gg (gallery-gallery distances)')
        p = {k: v for k, v in self.params.items() if k != 'mode'}
        out = similarity_inference(_as_torch(dist_qg), _as_torch(dist_gg), mode=self.mode,
                                   device=self.device, progress=self.progress, **p)
        return out

    def __repr__(self) -> str:
        keys = ('lam', 'K', 'k_q', 'k_g', 'alpha', 'n_graph', 'prune_T', 'components')
        args = ', '.join(f'{k}={self.params[k]!r}' for k in keys)
        return f'SIMReranker(mode={self.mode!r}, {args})'


@RERANKERS.register_module()
class KReciprocalReranker(BaseReranker):
    """k-reciprocal re-ranking (Zhong et al. 2017), equal to torchreid's ``re_ranking``."""

    needs_qq = True
    needs_gg = True

    def __init__(self, k1: int = 20, k2: int = 6, lambda_value: float = 0.3,
                 chunk_size: Optional[int] = None, device=None):
        if int(k1) < 1 or int(k2) < 1:
            raise ValueError(f'k1 and k2 must be >= 1, got k1={k1}, k2={k2}')
        if not 0.0 <= float(lambda_value) <= 1.0:
            raise ValueError(f'lambda_value must lie in [0, 1], got {lambda_value}')
        self.k1, self.k2, self.lambda_value = int(k1), int(k2), float(lambda_value)
        self.chunk_size, self.device = chunk_size, device

    def __call__(self, dist_qg, dist_gg=None, dist_qq=None) -> torch.Tensor:
        if dist_qq is None or dist_gg is None:
            raise ValueError('KReciprocalReranker needs dist_qq and dist_gg (needs_qq=True)')
        kw = {} if self.chunk_size is None else {'chunk_size': self.chunk_size}
        return k_reciprocal_rerank(_as_torch(dist_qg), _as_torch(dist_qq), _as_torch(dist_gg),
                                   k1=self.k1, k2=self.k2, lambda_value=self.lambda_value,
                                   device=self.device, **kw)

    def __repr__(self) -> str:
        return f'KReciprocalReranker(k1={self.k1}, k2={self.k2}, lambda_value={self.lambda_value})'
