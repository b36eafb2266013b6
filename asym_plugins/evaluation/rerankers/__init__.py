"""Re-rankers (registered in ``RERANKERS``); the interface lives in ``base.py``."""
from .base import BaseReranker, build_reranker, rerank_distance

__all__ = ['BaseReranker', 'build_reranker', 'rerank_distance']
