"""Evaluation: one retrieval core (distance, CMC/mAP/mINP, exclusion rules, chunked), the
protocols (market, SYSU-MM01, RegDB, text -> image), MMEngine metrics and the re-ranker interface.

Examples::
    >>> from asym_plugins.evaluation import compute_distance, evaluate_rank
    >>> cmc, mAP, mINP = evaluate_rank(compute_distance(qf, gf), q_pids, g_pids, q_camids, g_camids)
"""
from . import rerankers  # noqa: F401  (registers re-rankers)
from .distance import compute_distance, l2_normalize
from .metrics import RegDBMetric, ReIDMetric, SYSUMetric, TextImageMetric
from .protocols import (
                        TrialsResult,
                        average_results,
                        evaluate_regdb,
                        evaluate_sysu,
                        evaluate_sysu_trial,
                        evaluate_text_to_image,
                        load_sysu_permutation,
                        sample_sysu_gallery,
                        sysu_exclusion,
)
from .rank import (
                        QueryStats,
                        RankResult,
                        evaluate_rank,
                        evaluate_ranking,
                        first_occurrence_mask,
                        market_exclusion,
                        ranked_match_stats,
                        summarize_stats,
)
from .rerankers import BaseReranker, build_reranker

__all__ = [
    'compute_distance', 'l2_normalize', 'evaluate_rank', 'evaluate_ranking', 'RankResult',
    'QueryStats', 'ranked_match_stats', 'first_occurrence_mask', 'summarize_stats',
    'market_exclusion', 'evaluate_sysu', 'evaluate_sysu_trial', 'sample_sysu_gallery',
    'sysu_exclusion', 'load_sysu_permutation', 'evaluate_regdb', 'evaluate_text_to_image',
    'average_results', 'TrialsResult', 'ReIDMetric', 'SYSUMetric', 'RegDBMetric',
    'TextImageMetric', 'BaseReranker', 'build_reranker'
]
