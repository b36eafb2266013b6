"""Evaluate an experiment with and without a re-ranker (SIM, k-reciprocal...), logging both.

The hooks wrap the evaluator's metrics of an *existing* experiment, ours or another
codebase's. What a metric must expose (the whole contract):

* it is an MMEngine ``BaseMetric`` whose ``compute_metrics(results)`` returns a dict of numbers;
* it computes its query-gallery distance matrix through a method, by default
  ``compute_distmat(query_feats, gallery_feats) -> (Nq, Ng)`` distances (smaller = closer; a
  torch tensor or numpy array), named by ``dist_method``, and that method also accepts
  ``(gallery_feats, gallery_feats)`` (and ``(query_feats, query_feats)`` for k-reciprocal).
  During the extra pass every call with two *different* feature sets is re-ranked (so a
  protocol that ranks several galleries, e.g. SYSU-MM01's 10 trials, is re-ranked in each);
  a call with the same set twice (the metric's own gallery-gallery distance) stays plain.

Metrics of this package (``ReIDMetric`` and its subclasses: MoS, SYSU-MM01, RegDB...) take
the re-ranker natively instead, so that protocol-specific galleries (SYSU-MM01's per-trial
galleries) are re-ranked within each trial exactly as ``reranker=`` in the metric does.

A metric ranking by *similarity* can still be wrapped: give ``dist_method`` a method that
returns distances, or set ``similarity=True`` to have the hook work on ``-S`` and return
``-S'``. During the extra pass the method returns the re-ranked matrix, so the metric's own
protocol (camera rules, trials, ...) is applied unchanged. The results are logged twice:
the metric's own keys, and the same keys prefixed with ``<prefix>/`` (e.g. ``sim/mAP``).

Examples::
    custom_imports = dict(imports=['asym_plugins'])
    custom_hooks = [dict(type='asym.SIMRerankHook', preset='sysu_mm01')]
"""
from contextlib import contextmanager
from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.logging import print_log

from asym_plugins.evaluation.metrics.reid_metric import ReIDMetric
from asym_plugins.evaluation.rerankers.base import build_reranker, rerank_distance
from asym_plugins.registry import HOOKS


@HOOKS.register_module()
class RerankHook(Hook):
    """Log every wrapped metric with and without ``reranker`` (a RERANKERS config or callable).

    Args:
        reranker: e.g. ``dict(type='KReciprocalReranker', k1=20, k2=6)``.
        prefix: key prefix of the re-ranked results.
        dist_method: name of the metric's distance method (see the module docstring).
        metrics: wrap only the metrics whose class names are listed; default all that have
            ``dist_method``.
        similarity: the method returns similarities (larger = closer).
        on: ``('val', 'test')``: which evaluators to wrap.
    """

    priority = 'LOW'

    def __init__(self, reranker: Union[dict, object], prefix: str = 'rerank',
                 dist_method: str = 'compute_distmat', metrics: Optional[Sequence[str]] = None,
                 similarity: bool = False, on: Sequence[str] = ('val', 'test')):
        self.reranker = build_reranker(reranker)
        self.prefix = prefix
        self.dist_method = dist_method
        self.metric_names = None if metrics is None else set(metrics)
        self.similarity = similarity
        self.on = tuple(on)

    # -- wiring -------------------------------------------------------------------------
    def before_val(self, runner) -> None:
        if 'val' in self.on:
            self._wrap_evaluator(runner.val_loop.evaluator)

    def before_test(self, runner) -> None:
        if 'test' in self.on:
            self._wrap_evaluator(runner.test_loop.evaluator)

    def _wrap_evaluator(self, evaluator) -> None:
        wrapped = 0
        for metric in evaluator.metrics:
            name = type(metric).__name__
            if self.metric_names is not None and name not in self.metric_names:
                continue
            if not hasattr(metric, self.dist_method):
                if self.metric_names is not None:
                    raise AttributeError(
                        f'{type(self).__name__}: metric {name} has no method '
                        f'{self.dist_method!r}; set dist_method= to the method that computes '
                        'its query-gallery distance matrix (see asym_plugins/hooks/'
                        'rerank_hook.py for the contract).')
                continue
            self.wrap_metric(metric)
            wrapped += 1
        if wrapped == 0:
            names = [type(m).__name__ for m in evaluator.metrics]
            raise RuntimeError(
                f'{type(self).__name__}: none of the metrics {names} exposes '
                f'{self.dist_method!r}; the hook cannot re-rank them. Set dist_method= to the '
                'metric method that turns (query_feats, gallery_feats) into distances.')

    def wrap_metric(self, metric: BaseMetric) -> None:
        """Make ``metric.compute_metrics`` also report the re-ranked results (idempotent)."""
        marks = metric.__dict__.setdefault('_asym_rerank_prefixes', set())
        if self.prefix in marks:
            return
        marks.add(self.prefix)
        compute = metric.compute_metrics  # may already be wrapped by another RerankHook
        hook = self

        def compute_metrics(results):
            plain = compute(results)
            with hook._reranking(metric):
                reranked = compute(results)
            out = dict(plain)
            out.update({f'{hook.prefix}/{k}': v for k, v in reranked.items()})
            return out

        metric.compute_metrics = compute_metrics

    @contextmanager
    def _reranking(self, metric):
        if isinstance(metric, ReIDMetric):
            own = metric.reranker
            metric.reranker = self.reranker
            try:
                yield
            finally:
                metric.reranker = own
            return
        original = getattr(metric, self.dist_method)
        state = dict(calls=0)
        sign = -1.0 if self.similarity else 1.0

        def as_distance(q, g):
            d = original(q, g)
            is_np = isinstance(d, np.ndarray)
            t = torch.as_tensor(d) * sign
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
                                  lambda a, b: as_distance(a, b)[0])
            out = out * sign
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
    """Evaluate with and without SIM (Similarity Inference Metric, METHODS.md section 3).

    Args:
        mode: ``'official'`` (the authors' released code; default) or ``'equations'``.
        preset: ``'sysu_mm01'`` or ``'regdb'``: the released code's hyper-parameters.
        prefix: key prefix of the SIM results (default ``'sim'``: ``sim/mAP``...).
        dist_method, metrics, similarity, on: see :class:`RerankHook`.
        **sim_kwargs: ``lam, K, k_q, k_g, alpha, n_graph, prune_T, components``.
    """

    def __init__(self, mode: str = 'official', preset: Optional[str] = None,
                 prefix: str = 'sim', dist_method: str = 'compute_distmat',
                 metrics: Optional[Sequence[str]] = None, similarity: bool = False,
                 on: Sequence[str] = ('val', 'test'), **sim_kwargs):
        super().__init__(reranker=dict(type='SIMReranker', mode=mode, preset=preset,
                                       **sim_kwargs),
                         prefix=prefix, dist_method=dist_method, metrics=metrics,
                         similarity=similarity, on=on)
