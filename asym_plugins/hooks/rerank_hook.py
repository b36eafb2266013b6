"""Evaluate an experiment with and without a re-ranker (SIM, k-reciprocal...), logging both.

The hooks find by themselves how an *existing* experiment (ours or another MMEngine codebase's)
ranks its gallery, in this order, metric by metric (docs/sim.md, "Switch SIM on"):

1. **Metrics of this package** (``ReIDMetric`` and its subclasses: MoS, SYSU-MM01, RegDB...)
   take the re-ranker natively during an extra pass, so protocol-specific galleries (SYSU-MM01's
   per-trial galleries) are re-ranked within each trial exactly as ``reranker=`` in the metric.
2. **Metrics that compute distances from features**: an MMEngine ``BaseMetric`` whose
   ``compute_metrics(results)`` calls a method, by default ``compute_distmat(query_feats,
   gallery_feats) -> (Nq, Ng)`` distances (smaller = closer; torch or numpy), named by
   ``dist_method``; the method also accepts ``(gallery_feats, gallery_feats)`` (and
   ``(query_feats, query_feats)`` for k-reciprocal). During the extra pass every call with two
   *different* feature sets is re-ranked (a protocol ranking several galleries, e.g. SYSU-MM01's
   10 trials, is re-ranked in each); a call with the same set twice stays plain. A method
   returning cosine similarities: ``similarity=True`` (the hook re-ranks the Euclidean
   distance of L2-normalised features, ``sqrt(2 - 2 cos)``, same ranking, and returns the
   negated re-ranked distance, larger = closer).
3. **Models that score queries against gallery features they hold** (mmpretrain's
   ``ImageToImageRetriever``: ``matching(query_feats)`` against ``prototype_vecs``), with any
   metrics that read the predictions' ``pred_score`` (mmpretrain's ``RetrievalRecall``,
   ``RetrievalAveragePrecision``...): see ``rerank_sources.py``. Scores are turned into
   distances by ``score_to_distance`` (cosine: ``d = sqrt(2 - 2 cos)``, the Euclidean distance
   of L2-normalised features); each batch of queries is re-ranked on its own, so only
   re-rankers that treat queries independently apply (SIM; not k-reciprocal).

The results are logged twice: the metric's own keys, and the same keys with ``<prefix>/``
(e.g. ``sim/mAP``; ``retrieval/sim/Recall@1`` for a metric whose prefix is ``retrieval``).

Examples::
    custom_imports = dict(imports=['asym_plugins'])
    custom_hooks = [dict(type='asym.SIMRerankHook', preset='sysu_mm01')]
"""
from contextlib import contextmanager
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.logging import print_log

from asym_plugins.evaluation.metrics.reid_metric import ReIDMetric
from asym_plugins.evaluation.rerankers.base import build_reranker, rerank_distance

# large galleries: SIM streamed from the gallery features when the dense gallery-gallery
# matrix would not fit ``memory_budget`` (docs/sim.md, "Large galleries")
from asym_plugins.methods.sim.streaming import BudgetedReranker, gallery_stand_in
from asym_plugins.registry import HOOKS

from .rerank_sources import ModelGallery, check_cosine, cosine_to_distance, unwrap_model


@HOOKS.register_module()
class RerankHook(Hook):
    """Log every wrapped metric with and without ``reranker`` (a RERANKERS config or callable).

    Args:
        reranker: e.g. ``dict(type='KReciprocalReranker', k1=20, k2=6)``.
        prefix: key prefix of the re-ranked results.
        dist_method: kind 2: name of the metric's distance method (module docstring).
        metrics: wrap only the metrics whose class names are listed (default: every metric the
            hook can reach).
        similarity: kind 2: the method returns cosine similarities (larger = closer; values
            outside [-1, 1] are refused: return distances instead).
        on: ``('val', 'test')``: which evaluators to wrap.
        query_method: kind 3: the model method that receives the batch of query features and
            scores them against the gallery (default ``'matching'``).
        gallery_attr: kind 3: the model attribute holding the ``(Ng, C)`` gallery features
            (default ``'prototype_vecs'``).
        score_to_distance: kind 3: ``'cosine'`` (``d = sqrt(2 - 2 s)``) or a callable
            ``scores -> distances``; default: ``'cosine'`` for a model whose ``similarity`` is
            ``'cosine_similarity'``, otherwise an error asking for it.
        query_chunk: kind 3: queries re-ranked together (default 1024; memory
            ``query_chunk x Ng`` distances; the re-ranker's gallery-side work is paid per chunk).
        memory_budget: kinds 1-2 with SIM: when the dense gallery-gallery matrices would
            exceed it (default ``'4GB'``), SIM runs streamed from the gallery features in this
            budget instead (same result; None: always dense).
    """

    priority = 'LOW'

    def __init__(self, reranker: Union[dict, object], prefix: str = 'rerank',
                 dist_method: str = 'compute_distmat', metrics: Optional[Sequence[str]] = None,
                 similarity: bool = False, on: Sequence[str] = ('val', 'test'),
                 query_method: str = 'matching', gallery_attr: str = 'prototype_vecs',
                 score_to_distance: Union[None, str, Callable] = None,
                 query_chunk: int = 1024, memory_budget: Union[None, int, str] = '4GB'):
        self.reranker = BudgetedReranker.wrap(build_reranker(reranker), memory_budget)
        self.prefix = prefix
        self.dist_method = dist_method
        self.metric_names = None if metrics is None else set(metrics)
        self.similarity = similarity
        self.on = tuple(on)
        self.query_method, self.gallery_attr = query_method, gallery_attr
        self.score_to_distance = score_to_distance
        self.query_chunk = query_chunk
        self._gallery_source = None

    # -- wiring -------------------------------------------------------------------------
    def before_val(self, runner) -> None:
        if 'val' in self.on:
            self._wrap_evaluator(runner.val_loop.evaluator, runner.model)

    def before_test(self, runner) -> None:
        if 'test' in self.on:
            self._wrap_evaluator(runner.test_loop.evaluator, runner.model)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._gallery_source is not None:
            self._gallery_source.end_batch()

    after_test_iter = after_val_iter

    def after_val(self, runner) -> None:
        self._stop_gallery_source()

    def after_test(self, runner) -> None:
        self._stop_gallery_source()

    def _stop_gallery_source(self) -> None:
        if self._gallery_source is not None:
            self._gallery_source.stop()
            self._gallery_source = None

    def _wrap_evaluator(self, evaluator, model=None) -> None:
        """Wrap every metric the hook can reach (kinds 1-3 of the module docstring)."""
        self._stop_gallery_source()      # a loop that ended without after_val/after_test
        model = None if model is None else unwrap_model(model)
        by_model = model is not None and ModelGallery.reachable(model, self.query_method)
        wrapped, rest = 0, []
        for metric in evaluator.metrics:
            name = type(metric).__name__
            if self.metric_names is not None and name not in self.metric_names:
                continue
            if isinstance(metric, ReIDMetric) or hasattr(metric, self.dist_method):
                self.wrap_metric(metric)
                wrapped += 1
            elif by_model:
                rest.append(metric)
            elif self.metric_names is not None:
                raise AttributeError(
                    f'{type(self).__name__}: metric {name} has no method '
                    f'{self.dist_method!r} and the model has no {self.query_method!r} method. '
                    + self._how_to_point(model))
        if rest:
            self._gallery_source = ModelGallery(self, model, self.query_method,
                                                self.gallery_attr, self.score_to_distance,
                                                self.query_chunk)
            self._gallery_source.start(rest)
            wrapped += len(rest)
        if wrapped == 0:
            names = [type(m).__name__ for m in evaluator.metrics]
            raise RuntimeError(
                f'{type(self).__name__}: cannot reach the ranking of this experiment: none of '
                f'the metrics {names} is a metric of this package or has the distance method '
                f'{self.dist_method!r}, and the model '
                f'({type(model).__name__ if model is not None else None}) has no '
                f'{self.query_method!r} method scoring queries against gallery features. '
                + self._how_to_point(model))

    def _how_to_point(self, model) -> str:
        return ('Point the hook there: dist_method= names the metric method that turns '
                '(query_feats, gallery_feats) into distances (similarity=True if it returns '
                'similarities); query_method= / gallery_attr= name the model method that '
                'scores a batch of query features and the attribute holding the gallery '
                "features (defaults 'matching' / 'prototype_vecs', as mmpretrain's "
                'ImageToImageRetriever). See docs/sim.md.')

    def wrap_metric(self, metric: BaseMetric) -> None:
        """Make ``metric.compute_metrics`` also report the re-ranked results (idempotent).

        Several hooks stack: each adds its own ``<prefix>/`` keys, computed from the metric's
        own (unwrapped) ``compute_metrics``, so keys stay flat and each hook re-ranks once."""
        marks = metric.__dict__.setdefault('_asym_rerank_prefixes', set())
        if self.prefix in marks:
            return
        marks.add(self.prefix)
        base = metric.__dict__.setdefault('_asym_plain_compute', metric.compute_metrics)
        compute = metric.compute_metrics  # may already be wrapped by another RerankHook
        hook = self

        def compute_metrics(results):
            plain = compute(results)
            with hook._reranking(metric):
                reranked = base(results)
            out = dict(plain)
            out.update({f'{hook.prefix}/{k}': v for k, v in reranked.items()})
            return out

        metric.compute_metrics = compute_metrics

    @contextmanager
    def _reranking(self, metric):
        if isinstance(metric, ReIDMetric):
            own = metric.reranker
            metric.reranker = self.reranker
            big = isinstance(self.reranker, BudgetedReranker)  # issue 16: large galleries
            had = metric.__dict__.get('compute_distmat')
            if big:
                metric.compute_distmat = gallery_stand_in(metric.compute_distmat, self.reranker)
            try:
                yield
            finally:
                metric.reranker = own
                if big and had is not None:
                    metric.compute_distmat = had
                elif big:
                    del metric.compute_distmat  # back to the class's method
            return
        original = getattr(metric, self.dist_method)
        state = dict(calls=0)

        def as_distance(q, g):
            d = original(q, g)
            is_np = isinstance(d, np.ndarray)
            t = torch.as_tensor(d)
            if self.similarity:  # cosine similarities -> Euclidean of L2-normalised features
                t = cosine_to_distance(check_cosine(t, type(metric).__name__, self.dist_method))
            return t, is_np

        def same_set(q, g):
            if q is g:
                return True
            q, g = torch.as_tensor(q), torch.as_tensor(g)
            return q.shape == g.shape and bool(torch.equal(q, g))

        def reranked(q, g):
            if same_set(q, g):  # the metric's own g-g / q-q distances stay plain
                return original(q, g)
            state['calls'] += 1
            dist, is_np = as_distance(q, g)
            out = rerank_distance(self.reranker, dist, q, g,
                                  gallery_stand_in(lambda a, b: as_distance(a, b)[0],
                                                   self.reranker))
            if self.similarity:  # back to "larger = closer" for the metric
                out = -out
            return out.cpu().numpy() if is_np else out

        had_own = self.dist_method in metric.__dict__
        setattr(metric, self.dist_method, reranked)
        try:
            yield
        finally:
            if had_own:
                setattr(metric, self.dist_method, original)
            else:
                delattr(metric, self.dist_method)  # back to the class's method
            if state['calls'] == 0:
                print_log(f'{type(self).__name__}: {type(metric).__name__} never called '
                          f'{self.dist_method}; its "{self.prefix}/" results are not re-ranked.',
                          logger='current', level=30)


@HOOKS.register_module()
class SIMRerankHook(RerankHook):
    """Evaluate with and without SIM (Similarity Inference Metric, docs/sim.md).

    Args:
        mode: ``'official'`` (the authors' released code; default) or ``'equations'``.
        preset: ``'sysu_mm01'`` or ``'regdb'``: the released code's hyper-parameters.
        prefix: key prefix of the SIM results (default ``'sim'``: ``sim/mAP``...).
        dist_method, metrics, similarity, on, query_method, gallery_attr, score_to_distance,
        query_chunk, memory_budget: see :class:`RerankHook`.
        **sim_kwargs: ``lam, K, k_q, k_g, alpha, n_graph, prune_T, components``.
    """

    def __init__(self, mode: str = 'official', preset: Optional[str] = None,
                 prefix: str = 'sim', dist_method: str = 'compute_distmat',
                 metrics: Optional[Sequence[str]] = None, similarity: bool = False,
                 on: Sequence[str] = ('val', 'test'), query_method: str = 'matching',
                 gallery_attr: str = 'prototype_vecs',
                 score_to_distance: Union[None, str, Callable] = None, query_chunk: int = 1024,
                 memory_budget: Union[None, int, str] = '4GB', **sim_kwargs):
        super().__init__(reranker=dict(type='SIMReranker', mode=mode, preset=preset,
                                       **sim_kwargs),
                         prefix=prefix, dist_method=dist_method, metrics=metrics,
                         similarity=similarity, on=on, query_method=query_method,
                         gallery_attr=gallery_attr, score_to_distance=score_to_distance,
                         query_chunk=query_chunk, memory_budget=memory_budget)
