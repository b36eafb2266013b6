"""Where the re-rank hooks find the distances: a model that holds the gallery (kind 3).

Kinds 1 and 2 (metrics of this package, metrics with a distance method) are handled in
``rerank_hook.py``. This module covers the retrievers that score each batch of queries against
gallery features they keep, e.g. OpenMMLab mmpretrain's ``ImageToImageRetriever``: its
``matching(query_feats)`` compares the batch with ``prototype_vecs`` (the gallery features) and
its predictions carry ``pred_score`` (one similarity per gallery item), which the metrics
(``RetrievalRecall``, ``RetrievalAveragePrecision``...) rank in their ``process``.

During a val/test loop the hook

1. listens to the model's ``query_method`` (default ``matching``): after each call it turns the
   batch's scores and the gallery's into distances (``score_to_distance``), re-ranks the batch's
   rows, and keeps ``score' = -d'`` (larger = closer, so every metric ranks by ``d'``);
2. gives each metric a *shadow*: a copy of the user's metric that ``process``-es the same data
   samples with ``pred_score`` (and ``pred_label``) replaced by the re-ranked ones, and whose
   results are logged beside the metric's own as ``<metric prefix>/<hook prefix>/<key>``.

Each batch is re-ranked on its own, so the re-ranker must treat every query independently
(SIM does, in both modes: it uses only query-gallery and gallery-gallery distances);
k-reciprocal re-ranking, which needs all queries at once, is refused with an error.
Distributed: every rank re-ranks its own queries against the same gallery and the shadow
metric gathers the ranks' results as the metric itself does.
"""
import copy
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import is_model_wrapper

_DISPATCH = '_asym_rerank_dispatch'


def cosine_to_distance(score: torch.Tensor) -> torch.Tensor:
    """Euclidean distance of L2-normalised features from their cosine similarity.

    ``|a/|a| - b/|b||^2 = 2 - 2 cos(a, b)``, so ``d = sqrt(max(2 - 2 cos, 0))``: the distance
    SIM's released code uses, strictly decreasing in the cosine (the ranking is kept).
    """
    return (2.0 - 2.0 * score.float()).clamp_min_(0.0).sqrt_()


SCORE_TO_DISTANCE = {'cosine': cosine_to_distance}


def unwrap_model(model):
    """The model inside a DDP/FSDP wrapper (or the model itself)."""
    return model.module if is_model_wrapper(model) else model


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.normalize(a.float(), dim=1) @ F.normalize(b.float(), dim=1).t()


def _listeners(obj, name: str, call: Callable) -> list:
    """Install (once) a dispatcher in place of ``obj.<name>`` that calls the original and then
    every listener; returns the listener list. Several hooks share one dispatcher, so they can
    be removed in any order (:func:`_stop_listening`)."""
    table = obj.__dict__.setdefault(_DISPATCH, {})
    if name not in table:
        had_own = name in obj.__dict__
        original = getattr(obj, name)
        listeners = []
        table[name] = (listeners, had_own, original)
        setattr(obj, name, call(original, listeners))
    return table[name][0]


def _stop_listening(obj, name: str, listener) -> None:
    table = obj.__dict__.get(_DISPATCH, {})
    if name not in table:
        return
    listeners, had_own, original = table[name]
    if listener in listeners:
        listeners.remove(listener)
    if not listeners:
        del table[name]
        if not table:
            del obj.__dict__[_DISPATCH]
        if had_own:
            setattr(obj, name, original)
        else:
            delattr(obj, name)     # back to the class's method


def _after_query(original, listeners):
    def dispatch(feats, *args, **kwargs):
        out = original(feats, *args, **kwargs)
        for listener in list(listeners):
            listener.on_query(feats, out)
        return out
    return dispatch


def _after_process(original, listeners):
    def dispatch(data_batch, data_samples):
        original(data_batch, data_samples)
        for listener in list(listeners):
            listener.on_process(data_batch, data_samples)
    return dispatch


def _after_evaluate(original, listeners):
    def dispatch(size):
        out = dict(original(size))
        for listener in list(listeners):
            out.update(listener.on_evaluate(size))
        return out
    return dispatch


def shadow_copy(metric):
    """A fresh copy of ``metric`` (same class and settings, no results, no hook wrappers)."""
    shadow = metric.__class__.__new__(metric.__class__)
    skip = {'results', _DISPATCH, '_asym_rerank_prefixes', 'process', 'evaluate',
            'compute_metrics'}
    shadow.__dict__.update({k: copy.deepcopy(v) for k, v in metric.__dict__.items()
                            if k not in skip})
    shadow.results = []
    # the user's own compute_metrics (a kind-2 wrapper of another hook is not copied)
    return shadow


class ModelGallery:
    """Re-ranking of a model that scores queries against the gallery features it holds.

    Args:
        owner: the hook (gives ``reranker``, ``prefix`` and the name used in messages).
        model: the (unwrapped) model.
        query_method: the model method whose first argument is the batch of query features and
            whose result holds the scores (``dict(score=(B, Ng))``) or is ignored.
        gallery_attr: the model attribute holding the ``(Ng, C)`` gallery features, read after
            each call of ``query_method``.
        score_to_distance: ``'cosine'`` / a callable ``scores -> distances`` / ``None``:
            ``'cosine'`` when the model's ``similarity`` is ``'cosine_similarity'`` (mmpretrain's
            default), otherwise an error asking for it.
    """

    def __init__(self, owner, model, query_method: str = 'matching',
                 gallery_attr: str = 'prototype_vecs',
                 score_to_distance: Union[None, str, Callable] = None):
        self.owner, self.model = owner, model
        self.query_method, self.gallery_attr = query_method, gallery_attr
        self.to_distance = self._resolve_conversion(score_to_distance)
        self.shadows = []          # one _Shadow per metric
        self.pending = None        # re-ranked scores of the current batch
        self._gg = None            # (gallery tensor, its version, distances)

    # -- set-up --------------------------------------------------------------------------
    def _name(self) -> str:
        return type(self.owner).__name__

    def _resolve_conversion(self, conv):
        if callable(conv):
            return conv
        if conv is None:
            sim = getattr(self.model, 'similarity', None)
            if sim == 'cosine_similarity':
                return cosine_to_distance
            raise ValueError(
                f'{self._name()}: {type(self.model).__name__} scores queries with '
                f'similarity={sim!r}; the re-ranker needs distances. Set score_to_distance='
                "'cosine' if its scores are cosine similarities (d = sqrt(2 - 2 s)), or a "
                'callable turning its scores into distances (smaller = closer).')
        if conv not in SCORE_TO_DISTANCE:
            raise ValueError(f'{self._name()}: score_to_distance must be one of '
                             f'{sorted(SCORE_TO_DISTANCE)} or a callable, got {conv!r}')
        return SCORE_TO_DISTANCE[conv]

    @staticmethod
    def reachable(model, query_method: str) -> bool:
        return callable(getattr(model, query_method, None))

    def start(self, metrics) -> None:
        """Listen to the model and shadow ``metrics`` for one val/test loop."""
        reranker = self.owner.reranker
        if getattr(reranker, 'needs_qq', False):
            raise ValueError(
                f'{self._name()}: {type(reranker).__name__} needs query-query distances, i.e. '
                f'all queries at once, but {type(self.model).__name__} scores one batch of '
                f'queries at a time against its gallery ({self.gallery_attr!r}), so the hook '
                'cannot apply it here. Use a re-ranker that treats each query on its own '
                "(SIMRerankHook), or evaluate with a metric that computes distances from all "
                "features (this package's ReIDMetric, or a metric with dist_method=).")
        self.pending, self._gg = None, None
        _listeners(self.model, self.query_method, _after_query).append(self)
        self.shadows = []
        for metric in metrics:
            shadow = _Shadow(self, metric, shadow_copy(metric))
            _listeners(metric, 'process', _after_process).append(shadow)
            _listeners(metric, 'evaluate', _after_evaluate).append(shadow)
            self.shadows.append(shadow)

    def stop(self) -> None:
        """Remove every listener of :meth:`start` (the metrics and the model as they were)."""
        _stop_listening(self.model, self.query_method, self)
        for shadow in self.shadows:
            _stop_listening(shadow.metric, 'process', shadow)
            _stop_listening(shadow.metric, 'evaluate', shadow)
        self.shadows, self.pending, self._gg = [], None, None

    def end_batch(self) -> None:
        self.pending = None

    # -- per batch -------------------------------------------------------------------------
    def _gallery(self) -> torch.Tensor:
        gallery = getattr(self.model, self.gallery_attr, None)
        if not isinstance(gallery, torch.Tensor) or gallery.dim() != 2:
            raise RuntimeError(
                f'{self._name()}: after {type(self.model).__name__}.{self.query_method}() the '
                f'model has no (Ng, C) gallery feature tensor {self.gallery_attr!r} (found '
                f'{type(gallery).__name__}); set gallery_attr= to the attribute holding them.')
        return gallery

    def _similarity(self, a, b):
        fn = getattr(self.model, 'similarity', None)
        if fn == 'cosine_similarity' or not callable(getattr(self.model, 'similarity_fn', None)):
            return _cosine(a, b)
        fn = self.model.similarity_fn
        return torch.cat([fn(a[i:i + 1024], b) for i in range(0, len(a), 1024)])

    def _gallery_distance(self, gallery):
        version = getattr(gallery, '_version', None)
        if self._gg is None or self._gg[0] is not gallery or self._gg[1] != version:
            self._gg = (gallery, version, self.to_distance(self._similarity(gallery, gallery)))
        return self._gg[2]

    def on_query(self, feats, out) -> None:
        if isinstance(feats, (tuple, list)):
            feats = feats[-1]
        gallery = self._gallery()
        scores = out.get('score') if isinstance(out, dict) else None
        if scores is None:
            scores = self._similarity(feats, gallery)
        dist_qg = torch.as_tensor(self.to_distance(scores)).float()
        dist_gg = torch.as_tensor(self._gallery_distance(gallery)).float()
        out = self.owner.reranker(dist_qg, dist_gg, None)
        out = torch.as_tensor(out)
        if tuple(out.shape) != tuple(dist_qg.shape):
            raise ValueError(f'{type(self.owner.reranker).__name__} returned shape '
                             f'{tuple(out.shape)}, expected {tuple(dist_qg.shape)}')
        self.pending = -out.to(scores.device)


class _Shadow:
    """One metric's shadow: processes the re-ranked samples, reports ``<prefix>/...`` keys."""

    def __init__(self, source: ModelGallery, metric, shadow):
        self.source, self.metric, self.shadow = source, metric, shadow

    def on_process(self, data_batch, data_samples) -> None:
        scores = self.source.pending
        name = self.source._name()
        if scores is None:
            raise RuntimeError(
                f'{name}: {type(self.source.model).__name__} did not call '
                f'{self.source.query_method}() for this batch, so the hook has no re-ranked '
                'scores for it; set query_method= to the model method that receives the '
                'query features and scores them against the gallery.')
        if len(scores) != len(data_samples):
            raise RuntimeError(
                f'{name}: {self.source.query_method}() scored {len(scores)} queries but the '
                f'batch has {len(data_samples)} data samples.')
        samples = []
        for sample, row in zip(data_samples, scores):
            new = dict(sample) if isinstance(sample, dict) else sample.to_dict()
            old = new.get('pred_score')
            if isinstance(old, torch.Tensor):
                row = row.to(device=old.device, dtype=old.dtype)
            new['pred_score'] = row
            if 'pred_label' in new and isinstance(new['pred_label'], torch.Tensor):
                n = len(new['pred_label'])
                new['pred_label'] = torch.argsort(row, descending=True, stable=True)[:n]
            samples.append(new)
        self.shadow.process(data_batch, samples)

    def on_evaluate(self, size: int) -> dict:
        prefix = self.metric.prefix
        self.shadow.dataset_meta = self.metric.dataset_meta
        self.shadow.prefix = None
        out = self.shadow.evaluate(size)
        head = f'{prefix}/{self.source.owner.prefix}' if prefix else self.source.owner.prefix
        return {f'{head}/{k}': v for k, v in out.items()}
