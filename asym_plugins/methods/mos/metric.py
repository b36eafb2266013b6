"""``MoSMetric``: the standard Re-ID metric ranking by Jaccard distance, with optional CP
re-scoring of each query's top-R (``docs/mos.md`` eq. (8))."""
from typing import Any, Optional, Sequence

import torch

from asym_plugins.evaluation.metrics.reid_metric import ReIDMetric, get_field
from asym_plugins.registry import METRICS

from .conflict import rescore_topr
from .jaccard import hard_jaccard_similarity
from .model import PRIOR_KEY, PriorRef


@METRICS.register_module()
class MoSMetric(ReIDMetric):
    """:class:`ReIDMetric` whose distance is ``1 - J`` (hard Jaccard), or ``1 - S`` with
    ``S = J - cp_lambda * CP`` on each query's top-``top_r`` candidates when ``cp_lambda > 0``.

    Features must be the non-negative pattern vectors ``g`` (``MoSModel.predict``). A re-ranker
    (``reranker=dict(type=...)``, e.g. SIM or k-reciprocal) is stacked on this distance: its
    gallery-gallery / query-query distances come from the same :meth:`compute_distmat`.

    Where the prior comes from: ``MoSModel.predict`` puts a :class:`PriorRef` to its buffer
    ``prior.M_p`` in every sample's metainfo (``'mos_prior'``); ``process`` keeps that reference
    on the metric (never in ``self.results``, so nothing C x C is gathered across ranks). The
    prior is identical on all ranks (max-reduced at every training update, loaded from the
    checkpoint at test time), so rank 0, which computes the metric, holds the global one.
    A prior can also be given directly with :meth:`set_prior` (features-only evaluation).

    Args:
        cp_lambda: lambda of ``S = J - lambda * CP``; 0 ranks by ``J`` alone.
        cp_eps: eps of CP.
        cp_topk: channels of the union kept in CP (None: all C).
        top_r: R, candidates re-scored per query.
        jaccard_chunk_size: query rows per chunk of the Jaccard matrix (None: one go).
        **kwargs: :class:`ReIDMetric` arguments (``reranker``, ``ranks``, ``device``,
            ``save_features``, ``normalize_feature``...). ``metric`` is refused: the
            distance is always ``1 - J`` (``1 - S``), never a feature-space metric.

    Examples::
        >>> val_evaluator = dict(type='MoSMetric', cp_lambda=0.1, top_r=50)
    """

    def __init__(self, cp_lambda: float = 0.0, cp_eps: float = 1.0, cp_topk: Optional[int] = 32,
                 top_r: int = 50, jaccard_chunk_size: Optional[int] = 256,
                 metric: Optional[str] = None, **kwargs) -> None:
        if metric is not None:
            raise ValueError(
                f'MoSMetric: metric={metric!r} would have no effect: MoSMetric ranks by the '
                'Jaccard distance 1 - J of the pattern vectors (1 - S with the CP re-scoring, '
                'docs/mos.md eq. (8)); remove `metric` from the evaluator (val_evaluator / '
                "test_evaluator), or use type='ReIDMetric' for a feature-space distance.")
        super().__init__(**kwargs)
        if cp_lambda < 0:
            raise ValueError(f'MoSMetric: cp_lambda must be >= 0, got {cp_lambda}.')
        if top_r < 1:
            raise ValueError(f'MoSMetric: top_r must be >= 1, got {top_r}.')
        self.cp_lambda = cp_lambda
        self.cp_eps = cp_eps
        self.cp_topk = cp_topk
        self.top_r = top_r
        self.jaccard_chunk_size = jaccard_chunk_size
        self.prior: Optional[torch.Tensor] = None

    def set_prior(self, M_p: torch.Tensor) -> None:
        """Use ``M_p`` (C, C) for CP (instead of the one predicted samples carry)."""
        self.prior = M_p

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for sample in data_samples[:1]:
            ref = get_field(sample, PRIOR_KEY, None)
            if ref is not None:
                self.prior = ref.tensor if isinstance(ref, PriorRef) else ref
        super().process(data_batch, data_samples)

    def compute_distmat(self, qf: torch.Tensor, gf: torch.Tensor) -> torch.Tensor:
        """``1 - J`` (``1 - S`` with CP re-scoring), (N_q, N_g)."""
        if self.normalize_feature:
            qf = torch.nn.functional.normalize(qf, dim=1)
            gf = torch.nn.functional.normalize(gf, dim=1)
        for name, f in (('query', qf), ('gallery', gf)):
            if f.numel() and float(f.min()) < 0:
                raise ValueError(
                    f'MoSMetric: {name} features have negative entries (min {float(f.min()):.4g}); '
                    f'the Jaccard similarity needs the non-negative pattern vectors g of '
                    f'MoSModel.predict (not a BNNeck feature).')
        sim = hard_jaccard_similarity(qf, gf, chunk_size=self.jaccard_chunk_size)
        if self.cp_lambda > 0:
            if self.prior is None:
                raise ValueError('MoSMetric: cp_lambda > 0 needs the prior M^p; evaluate a '
                                 'MoSModel (its predict attaches it) or call set_prior(M_p).')
            sim = rescore_topr(sim, qf, gf, self.prior, cp_lambda=self.cp_lambda,
                               eps=self.cp_eps, topk=self.cp_topk, top_r=self.top_r)
        return 1.0 - sim
