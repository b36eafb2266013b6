"""SIM (Similarity Inference Metric, IJCAI 2020) and k-reciprocal re-ranking.

The math lives in torch/numpy-only modules (``api``, ``graph_inference``, ``mutual_nn``,
``k_reciprocal``, ``_kernels``); ``rerankers`` registers :class:`SIMReranker` and
:class:`KReciprocalReranker` into ``asym_plugins.registry.RERANKERS``.
"""
from .api import (
           SIM_PRESETS,
           resolve_sim_params,
           sim_graph_distance,
           sim_re_ranking,
           similarity_inference,
)
from .k_reciprocal import k_reciprocal_rerank, re_ranking
from .rerankers import KReciprocalReranker, SIMReranker
from .streaming import StreamResult, similarity_inference_features

__all__ = ['SIM_PRESETS', 'similarity_inference', 'sim_graph_distance', 'resolve_sim_params',
           'sim_re_ranking', 'k_reciprocal_rerank', 're_ranking', 'SIMReranker',
           'KReciprocalReranker', 'similarity_inference_features', 'StreamResult']
