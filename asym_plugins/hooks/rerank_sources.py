"""Where the re-rank hooks find the distances: a model that holds the gallery (kind 3).

Kinds 1 and 2 (metrics of this package, metrics with a distance method) are handled in
``rerank_hook.py``. This module covers the retrievers that score each batch of queries against
gallery features they keep, e.g. OpenMMLab mmpretrain's ``ImageToImageRetriever``: its
``matching(query_feats)`` compares the batch with ``prototype_vecs`` (the gallery features) and
its predictions carry ``pred_score`` (one similarity per gallery item), which the metrics
(``RetrievalRecall``, ``RetrievalAveragePrecision``...) rank in their ``process``.

During a val/test loop the hook

1. listens to the model's ``query_method`` (default ``matching``): after each call it turns the
   batch's scores into distances (``score_to_distance``) and queues them;
2. gives each metric a *shadow*: a copy of the user's metric that ``process``-es the same data
   samples with ``pred_score`` (and ``pred_label``) replaced by ``-d'`` (larger = closer, so
   every metric ranks by the re-ranked ``d'``), and whose results are logged beside the
   metric's own as ``<metric prefix>/<hook prefix>/<key>``.

Queued queries are re-ranked together once ``query_chunk`` of them are waiting, and at the end
of the loop (one call per chunk instead of per batch: the re-ranker's gallery-side work is paid
once per chunk); the shadows then process their batches in order (their ``process`` gets the
data batch without its ``inputs``). Chunks of queries are re-ranked on their own, so the
re-ranker must treat every query independently (SIM does, in both modes: it uses only
query-gallery and gallery-gallery distances); k-reciprocal re-ranking, which needs all queries
at once, is refused with an error.
Distributed: every rank re-ranks its own queries against the same gallery and the shadow
metric gathers the ranks' results as the metric itself does.

Large galleries (docs/sim.md, "Large galleries"): with SIM and a ``memory_budget`` that the
dense gallery-gallery matrices (2 x Ng^2 floats) would exceed, the gallery-gallery distances are
never formed: the re-ranker receives the gallery features with the model's scoring function
(``GalleryFeatures``) and runs the streaming SIM on each chunk of queued queries, building the
gallery structure once per gallery (it is kept for the following chunks) in row tiles of the
model's own gallery-gallery scores.
"""
import copy
from typing import Callable, Union

import torch
import torch.nn.functional as F
from mmengine.model import is_model_wrapper

from asym_plugins.methods.sim.streaming import BudgetedReranker, GalleryFeatures

_DISPATCH = '_asym_rerank_dispatch'


def cosine_to_distance(score: torch.Tensor) -> torch.Tensor:
    """Euclidean distance of L2-normalised features from their cosine similarity.

    ``|a/|a| - b/|b||^2 = 2 - 2 cos(a, b)``, so ``d = sqrt(max(2 - 2 cos, 0))``: the distance
    SIM's released code uses, strictly decreasing in the cosine (the ranking is kept).
    """
    return (2.0 - 2.0 * score.float()).clamp_min_(0.0).sqrt_()


def check_cosine(score: torch.Tensor, owner: str, method: str) -> torch.Tensor:
    """``score`` unchanged when it can be a cosine similarity (within [-1, 1] up to
    rounding), else a ``ValueError`` naming where it came from."""
    if score.numel():
        lo, hi = float(score.min()), float(score.max())
        if lo < -1.0 - 1e-4 or hi > 1.0 + 1e-4:
            raise ValueError(
                f'{owner}.{method} returned similarities in [{lo:.4g}, {hi:.4g}], not cosine '
                'similarities in [-1, 1]: the re-ranker needs distances. Return distances from '
                'that method (similarity=False), or L2-normalise the features first.')
    return score


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
    """A fresh copy of ``metric``: same class and settings, no results, and the class's own
    ``process`` / ``evaluate`` / ``compute_metrics`` (no wrapper of this or another hook)."""
    shadow = metric.__class__.__new__(metric.__class__)
    skip = {'results', _DISPATCH, '_asym_rerank_prefixes', '_asym_plain_compute', 'process',
            'evaluate', 'compute_metrics'}
    shadow.__dict__.update({k: copy.deepcopy(v) for k, v in metric.__dict__.items()
                            if k not in skip})
    shadow.results = []
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
        query_chunk: queries re-ranked together (memory: ``query_chunk x Ng`` distances).
    """

    def __init__(self, owner, model, query_method: str = 'matching',
                 gallery_attr: str = 'prototype_vecs',
                 score_to_distance: Union[None, str, Callable] = None, query_chunk: int = 1024):
        self.owner, self.model = owner, model
        self.query_method, self.gallery_attr = query_method, gallery_attr
        self.to_distance = self._resolve_conversion(score_to_distance)
        if int(query_chunk) < 1:
            raise ValueError(f'{self._name()}: query_chunk must be >= 1, got {query_chunk}')
        self.query_chunk = int(query_chunk)
        self.shadows = []          # one _Shadow per metric
        self.pending = None        # distances of the current batch (B, Ng)
        self.queue = []            # distances of the batches waiting to be re-ranked
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
        self.shadows, self.pending, self.queue, self._gg = [], None, [], None

    def end_batch(self) -> None:
        """The loop's batch is done (every metric processed it): queue its distances and
        re-rank the queue once ``query_chunk`` queries wait."""
        if self.pending is not None:
            self.queue.append(self.pending)
            self.pending = None
        if sum(len(d) for d in self.queue) >= self.query_chunk:
            self.flush()

    def flush(self) -> None:
        """Re-rank the queued queries at once and let every shadow process its batches."""
        if not self.queue:
            return
        dist_qg = torch.cat(self.queue)
        sizes = [len(d) for d in self.queue]
        self.queue = []
        out = torch.as_tensor(self.owner.reranker(dist_qg, self._gg[2], None))
        if tuple(out.shape) != tuple(dist_qg.shape):
            raise ValueError(f'{type(self.owner.reranker).__name__} returned shape '
                             f'{tuple(out.shape)}, expected {tuple(dist_qg.shape)}')
        scores = torch.split(-out.to(dist_qg.device), sizes)
        for shadow in self.shadows:
            shadow.process_queued(scores)

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

    def _gallery_changed(self, gallery) -> bool:
        return (self._gg is None or self._gg[0] is not gallery
                or self._gg[1] != getattr(gallery, '_version', None))

    def _gallery_distance(self, gallery):
        if self._gallery_changed(gallery):
            reranker = self.owner.reranker
            if (isinstance(reranker, BudgetedReranker)
                    and reranker.too_big(len(gallery), torch.float32)):
                # too big for the budget: the features and the model's scoring stand for the
                # matrix (streamed in row tiles, the structure kept for the next chunks)
                dist = GalleryFeatures(gallery, self._distance)
            else:
                dist = self._distance(gallery, gallery)
            self._gg = (gallery, getattr(gallery, '_version', None), dist)
        return self._gg[2]

    def _distance(self, a, b) -> torch.Tensor:
        """Distances from the model's scores of ``a`` against ``b``."""
        return torch.as_tensor(self.to_distance(self._similarity(a, b))).float()

    def on_query(self, feats, out) -> None:
        if isinstance(feats, (tuple, list)):
            feats = feats[-1]
        gallery = self._gallery()
        scores = out.get('score') if isinstance(out, dict) else None
        if scores is None:
            scores = self._similarity(feats, gallery)
        if self.queue and self._gallery_changed(gallery):
            self.flush()                 # the gallery changed: re-rank what it scored first
        self._gallery_distance(gallery)
        self.pending = torch.as_tensor(self.to_distance(scores)).float()


class _Shadow:
    """One metric's shadow: processes the re-ranked samples, reports ``<prefix>/...`` keys."""

    def __init__(self, source: ModelGallery, metric, shadow):
        self.source, self.metric, self.shadow = source, metric, shadow
        self.queue = []            # (data batch without inputs, data samples) per batch

    def on_process(self, data_batch, data_samples) -> None:
        dist = self.source.pending
        name = self.source._name()
        if dist is None:
            raise RuntimeError(
                f'{name}: {type(self.source.model).__name__} did not call '
                f'{self.source.query_method}() for this batch, so the hook has no query '
                'scores for it; set query_method= to the model method that receives the '
                'query features and scores them against the gallery.')
        if len(dist) != len(data_samples):
            raise RuntimeError(
                f'{name}: {self.source.query_method}() scored {len(dist)} queries but the '
                f'batch has {len(data_samples)} data samples.')
        if isinstance(data_batch, dict):
            data_batch = {k: v for k, v in data_batch.items() if k != 'inputs'}
        samples = []
        for sample in data_samples:      # kept without the (Ng,) predictions until re-ranked
            new = dict(sample) if isinstance(sample, dict) else sample.to_dict()
            score, label = new.pop('pred_score', None), new.pop('pred_label', None)
            like = (score.dtype, score.device) if isinstance(score, torch.Tensor) else None
            n_label = len(label) if isinstance(label, torch.Tensor) else None
            samples.append((new, like, n_label))
        self.queue.append((data_batch, samples))

    def process_queued(self, scores) -> None:
        """Process the queued batches with their re-ranked scores (one tensor per batch)."""
        queue, self.queue = self.queue, []
        if len(queue) != len(scores):
            raise RuntimeError(f'{self.source._name()}: {type(self.metric).__name__} processed '
                               f'{len(queue)} batches but {len(scores)} were scored')
        for (data_batch, samples), rows in zip(queue, scores):
            done = []
            for (new, like, n_label), row in zip(samples, rows):
                if like is not None:
                    row = row.to(dtype=like[0], device=like[1])
                new['pred_score'] = row
                if n_label is not None:
                    new['pred_label'] = torch.argsort(row, descending=True, stable=True)[:n_label]
                done.append(new)
            self.shadow.process(data_batch, done)

    def on_evaluate(self, size: int) -> dict:
        self.source.flush()
        prefix = self.metric.prefix
        self.shadow.dataset_meta = self.metric.dataset_meta
        self.shadow.prefix = None
        out = self.shadow.evaluate(size)
        head = f'{prefix}/{self.source.owner.prefix}' if prefix else self.source.owner.prefix
        return {f'{head}/{k}': v for k, v in out.items()}
