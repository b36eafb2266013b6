"""torchreid's ``metrics.evaluate_rank`` on our evaluation core.

The PyPI build of torchreid has no Cython evaluator (its Python fallback loops over queries),
and its CUHK03 single-gallery-shot metric uses ``np.bool``, removed in numpy 1.24-1.26. The
replacement keeps torchreid's signature and return value (``(cmc, mAP)``, fractions, numpy):

* market rule (default): :func:`asym_plugins.evaluation.evaluate_rank` (vectorised, chunked,
  stable ranking; same exclusion and query skipping as torchreid);
* ``use_metric_cuhk03=True``: the CUHK03 protocol (per query, one random gallery image per
  identity, repeated 10 times, CMC averaged; AP averaged over the sampled lists), written
  with plain ``bool`` dtypes.

:func:`install` swaps it into torchreid's ``metrics`` module, which every torchreid engine
calls (``register_all`` does it; :func:`uninstall` restores the original).

Our function is :func:`torchreid_evaluate_rank` (torchreid's contract; the package's own
:func:`asym_plugins.evaluation.evaluate_rank` returns ``(cmc, mAP, mINP)``); the old name
``evaluate_rank`` of this module works for one release (``DeprecationWarning``).

Examples::
    >>> from asym_plugins.integrations.torchreid.evaluation import torchreid_evaluate_rank
    >>> cmc, mAP = torchreid_evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids)
"""
import warnings
from collections import defaultdict
from typing import Tuple

import numpy as np
import torch

from asym_plugins.evaluation import evaluate_rank as core_evaluate_rank

from . import compat

__all__ = ['torchreid_evaluate_rank', 'eval_cuhk03', 'install', 'uninstall', 'is_installed']

_ORIGINAL_ATTR = '_asym_original_evaluate_rank'


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def eval_cuhk03(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50,
                num_repeats: int = 10, seed: int = 0) -> Tuple[np.ndarray, float]:
    """CUHK03 (classic split) single-gallery-shot CMC and mAP.

    For each query, gallery items of its own pid and camera are removed; then, ``num_repeats``
    times, one gallery image per remaining identity is drawn at random (``seed``) and the query's
    first-hit rank is recorded on that de-duplicated list (CMC averaged over the repeats); AP is
    computed on the full filtered list. Queries without a positive are skipped.
    """
    distmat = _to_numpy(distmat)
    q_pids, g_pids = _to_numpy(q_pids), _to_numpy(g_pids)
    q_camids, g_camids = _to_numpy(q_camids), _to_numpy(g_camids)
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    rng = np.random.default_rng(seed)
    order = np.argsort(distmat, axis=1, kind='stable')
    cmcs, aps = [], []
    for i in range(num_q):
        ranked = order[i]
        keep = ~((g_pids[ranked] == q_pids[i]) & (g_camids[ranked] == q_camids[i]))
        ranked = ranked[keep]
        hits = (g_pids[ranked] == q_pids[i])
        if not hits.any():
            continue
        by_pid = defaultdict(list)
        for pos, gi in enumerate(ranked):
            by_pid[int(g_pids[gi])].append(pos)
        cmc = np.zeros(max_rank, dtype=np.float64)
        for _ in range(num_repeats):
            chosen = np.zeros(len(ranked), dtype=bool)
            for positions in by_pid.values():
                chosen[positions[int(rng.integers(len(positions)))]] = True
            sub_hits = hits[chosen]
            first = int(np.flatnonzero(sub_hits)[0])
            if first < max_rank:
                cmc[first:] += 1.0
        cmcs.append(cmc / num_repeats)
        positives = np.flatnonzero(hits)
        precision = np.arange(1, len(positives) + 1) / (positives + 1.0)
        aps.append(float(precision.mean()))
    if not cmcs:
        raise ValueError('eval_cuhk03: no query has a positive in the gallery.')
    return np.mean(cmcs, axis=0).astype(np.float32), float(np.mean(aps))


def torchreid_evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50,
                            use_metric_cuhk03: bool = False, use_cython: bool = True
                            ) -> Tuple[np.ndarray, float]:
    """Drop-in for ``torchreid.metrics.evaluate_rank``: ``(cmc (max_rank,), mAP)`` as fractions.

    ``use_cython`` is accepted for compatibility and ignored (the core is vectorised torch).
    """
    if use_metric_cuhk03:
        return eval_cuhk03(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    dist = distmat if isinstance(distmat, torch.Tensor) else torch.from_numpy(
        np.ascontiguousarray(distmat))
    num_g = dist.shape[1]
    cmc, mAP, _ = core_evaluate_rank(dist, _to_numpy(q_pids), _to_numpy(g_pids),
                                     _to_numpy(q_camids), _to_numpy(g_camids),
                                     max_rank=min(max_rank, num_g))
    cmc = np.asarray(cmc, dtype=np.float32)
    if cmc.shape[0] < max_rank:  # torchreid callers index cmc[r - 1] for r up to 20
        cmc = np.concatenate([cmc, np.full(max_rank - cmc.shape[0], cmc[-1], np.float32)])
    return cmc, float(mAP)


def is_installed() -> bool:
    metrics = compat.torchreid_module('metrics')
    return getattr(metrics, 'evaluate_rank', None) is torchreid_evaluate_rank


def install() -> None:
    """Make torchreid's ``metrics.evaluate_rank`` (what its engines call) this function.
    Idempotent."""
    metrics = compat.torchreid_module('metrics')
    current = getattr(metrics, 'evaluate_rank', None)
    if current is torchreid_evaluate_rank:
        return
    setattr(metrics, _ORIGINAL_ATTR, current)
    metrics.evaluate_rank = torchreid_evaluate_rank


def uninstall() -> None:
    """Restore torchreid's own ``evaluate_rank``."""
    metrics = compat.torchreid_module('metrics')
    original = getattr(metrics, _ORIGINAL_ATTR, None)
    if original is not None:
        metrics.evaluate_rank = original
        delattr(metrics, _ORIGINAL_ATTR)


def __getattr__(name: str):
    # Deprecated (one release): this module's evaluate_rank is torchreid_evaluate_rank.
    if name == 'evaluate_rank':
        warnings.warn(f'{__name__}.evaluate_rank is deprecated; use torchreid_evaluate_rank '
                      '(asym_plugins.evaluation.evaluate_rank is the package\'s own, returning '
                      'mINP too).', DeprecationWarning, stacklevel=2)
        return torchreid_evaluate_rank
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
