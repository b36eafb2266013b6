"""MoS (Matching on Sets): pattern-set matching for partial and occluded Re-ID.

Plain Python path (pure torch, no MMEngine needed)::

    from asym_plugins.methods.mos import hard_jaccard_similarity, rescore_topr
    sim = hard_jaccard_similarity(query_g, gallery_g)            # (Nq, Ng), rank by 1 - sim
    sim = rescore_topr(sim, query_g, gallery_g, prior.M_p, cp_lambda=0.1, top_r=50)

Config path: ``MoSModel`` (MODELS) and ``MoSMetric`` (METRICS), see ``configs/mos/``.
"""
from .conflict import (
                       PositiveCooccurrencePrior,
                       conflict_penalty,
                       indexed_union_top_channels,
                       pairwise_conflict_penalty,
                       rescore_topr,
                       union_top_channels,
)
from .jaccard import JaccardTripletLoss, hard_jaccard_similarity, soft_jaccard_similarity
from .metric import MoSMetric
from .model import MOS_DEFAULT_LOSSES, MoSModel, PriorRef

__all__ = [
    'hard_jaccard_similarity', 'soft_jaccard_similarity', 'JaccardTripletLoss',
    'PositiveCooccurrencePrior', 'conflict_penalty', 'pairwise_conflict_penalty',
    'rescore_topr', 'union_top_channels', 'indexed_union_top_channels', 'MoSModel',
    'MOS_DEFAULT_LOSSES', 'PriorRef', 'MoSMetric'
]
