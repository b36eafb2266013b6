"""MMEngine metric for single-modality Re-ID (market rule): R1/R5/R10, mAP, mINP."""
import os
import os.path as osp
import tempfile
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from asym_plugins.engine.cli import ConfigKeyError, MissingInputError, UserError
from asym_plugins.registry import METRICS

from ..distance import DISTANCE_METRICS, compute_distance, l2_normalize
from ..rank import evaluate_rank
from ..rerankers.base import build_reranker, rerank_distance

_MISSING = object()


def get_field(sample: Any, key: str, default: Any = _MISSING) -> Any:
    """Read ``key`` from a data sample given as a dict (``BaseDataElement.to_dict()``, metainfo
    keys flat) or as a ``BaseDataElement``; a missing key raises a KeyError naming it."""
    if isinstance(sample, dict):
        if key in sample:
            return sample[key]
        if '_' + key in sample:  # data field stored under its private name
            return sample['_' + key]
    elif hasattr(sample, key):
        return getattr(sample, key)
    if default is _MISSING:
        have = sorted(sample.keys()) if hasattr(sample, 'keys') else type(sample).__name__
        raise KeyError(f'data sample has no {key!r} field (has: {have})')
    return default


def add_img_path(out: dict, sample: Any, required: bool = False) -> dict:
    """Copy the sample's ``img_path`` into ``out`` when it has one (``required``: a missing
    one raises the KeyError of :func:`get_field`); saved features carry the paths."""
    path = get_field(sample, 'img_path') if required else get_field(sample, 'img_path', None)
    if path is not None:
        out['img_path'] = str(path)
    return out


def to_cpu_feature(x: Any, key: str = 'pred_feature') -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    return x.detach().to('cpu', torch.float32)


class FeatureFileError(UserError, ValueError):
    """A saved features file that cannot be used (the message names the file and the key)."""


FEATURE_KEYS = ('qf', 'gf', 'q_pids', 'g_pids', 'q_camids', 'g_camids')
PATH_KEYS = ('q_img_paths', 'g_img_paths')


#: Optional keys of a features file: the evaluation's distance settings and the modalities.
SETTING_KEYS = ('metric', 'normalize_feature', 'metric_class', 'q_modalities', 'g_modalities')


def load_feature_settings(path: str, swap: bool = False) -> Dict[str, Any]:
    """The optional :data:`SETTING_KEYS` a features file has (files written before they were
    recorded have none): ``metric`` (str), ``normalize_feature`` (bool), ``metric_class`` (str),
    ``q_modalities`` / ``g_modalities`` (str arrays; exchanged by ``swap``). Call it after
    :func:`load_features_npz`, which checks the file."""
    out: Dict[str, Any] = {}
    with np.load(path, allow_pickle=False) as data:
        for key in SETTING_KEYS:
            if key in data.files:
                value = np.asarray(data[key])
                out[key] = value.item() if value.ndim == 0 else value.astype(str)
    if 'normalize_feature' in out:
        out['normalize_feature'] = bool(out['normalize_feature'])
    if swap and 'q_modalities' in out and 'g_modalities' in out:
        out['q_modalities'], out['g_modalities'] = out['g_modalities'], out['q_modalities']
    return out


def load_features_npz(path: str, swap: bool = False, with_paths: bool = False
                      ) -> Dict[str, np.ndarray]:
    """Read and check a file of :func:`save_features_npz` (``tools/test.py --save-features``).

    Returns ``FEATURE_KEYS`` (pids / camids as int64 vectors) plus ``PATH_KEYS`` when
    ``with_paths``; ``swap`` exchanges the query and gallery sides. Errors name the file and the
    key: missing file or keys, a truncated or non-npz file, empty or non-2-D features, NaN/inf
    rows, pids/camids that are not integers (a float 3.5 is refused, not truncated), per-side
    length or feature-dimension mismatch. All are
    :class:`~asym_plugins.engine.cli.UserError` subclasses (CLIs stop without a traceback).
    """
    keys = FEATURE_KEYS + (PATH_KEYS if with_paths else ())
    if not osp.isfile(path):
        raise MissingInputError(f'features file {path!r} does not exist; write one with '
                                'tools/test.py CONFIG CKPT --save-features FILE.npz')
    redo = 'write it again with tools/test.py CONFIG CKPT --save-features FILE.npz'
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, 'files'):
                raise FeatureFileError(f'{path} holds a single array, not an .npz archive; '
                                       f'{redo}.')
            missing = [key for key in keys if key not in data.files]
            if missing:
                hint = (' (saved before image paths were recorded: run tools/test.py '
                        '--save-features again)' if set(missing) <= set(PATH_KEYS) else '')
                raise ConfigKeyError(
                    f'{path} lacks the key(s) {missing} (has {sorted(data.files)}); expected '
                    f'{list(keys)}: query/gallery features (N, D) and their pids and camids, as '
                    f'written by tools/test.py --save-features{hint}.')
            out = {key: np.asarray(data[key]) for key in keys}
    except UserError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise FeatureFileError(f'features file {path!r} cannot be read (truncated or not an '
                               f'.npz: {type(err).__name__}: {err}); {redo}.') from None
    for side in ('q', 'g'):
        f = out[f'{side}f']
        if f.ndim != 2 or f.shape[0] == 0:
            raise FeatureFileError(f'{path}: {side}f must be a non-empty (N, D) array, got '
                                   f'shape {f.shape}')
        if f.dtype.kind not in 'fiu':
            raise FeatureFileError(f'{path}: {side}f has dtype {f.dtype}; expected numbers.')
        if not np.isfinite(f).all():
            raise FeatureFileError(f'{path}: {side}f has NaN or inf values '
                                   f'({int((~np.isfinite(f)).any(axis=1).sum())} rows)')
        for key in (f'{side}_pids', f'{side}_camids') + ((f'{side}_img_paths',)
                                                          if with_paths else ()):
            v = out[key].reshape(-1)
            if len(v) != f.shape[0]:
                raise FeatureFileError(f'{path}: {key} has {len(v)} entries but {side}f has '
                                       f'{f.shape[0]} rows')
            if not key.endswith('paths'):
                v = _integral(v, f'{path}: {key}', FeatureFileError)
            out[key] = v
    if out['qf'].shape[1] != out['gf'].shape[1]:
        raise FeatureFileError(f'{path}: qf and gf feature dims differ: {out["qf"].shape[1]} '
                               f'vs {out["gf"].shape[1]}')
    if swap:
        out = {(('g' if k[0] == 'q' else 'q') + k[1:]): v for k, v in out.items()}
    return out


def _integral(v: np.ndarray, what: str, error) -> np.ndarray:
    """``v`` as int64, refusing values that are not whole numbers (or not numbers)."""
    if v.dtype.kind in 'iu':
        return v.astype(np.int64)
    if v.dtype.kind in 'fb':
        f = v.astype(np.float64)
        bad = ~np.isfinite(f) | (f != np.round(f))
        if bad.any():
            raise error(f'{what} must hold whole numbers; {int(bad.sum())} are not (first: '
                        f'{v[bad][0]!r}). Identity and camera ids are integers: save them as '
                        'such (tools/test.py --save-features does).')
        return f.astype(np.int64)
    raise error(f'{what} has dtype {v.dtype}; expected integers.')


def save_features_npz(path: str, **arrays) -> None:
    """``np.savez`` written to a temporary file in the same folder, then ``os.replace``d, so a
    reader never sees a half-written file; the file gets the permissions a plain ``open``
    would give (``0o666`` minus the umask; ``mkstemp`` alone gives ``0600``)."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix='.npz', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            np.savez(f, **{k: (v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
                           for k, v in arrays.items()})
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


@METRICS.register_module()
class ReIDMetric(BaseMetric):
    """Re-ID retrieval metric (``docs/datasets.md``, "The standard protocol").

    ``process`` keeps, for every data sample, ``pred_feature`` (moved to CPU), ``pid``, ``camid``
    and ``split`` (``'query'`` | ``'gallery'``); ``compute_metrics`` ranks the gallery for every
    query with :func:`evaluate_rank` (same pid AND camid excluded) and returns ``R1``, ``R5``,
    ``R10``, ``mAP``, ``mINP`` in percent. Results are gathered across ranks by MMEngine
    (``collect_results``: plain dicts of CPU tensors and ints).

    Args:
        metric (str): ``'euclidean'`` | ``'sqeuclidean'`` | ``'cosine'``.
        normalize_feature (bool): L2-normalise features before the distance.
        ranks (Sequence[int]): CMC ranks reported.
        reranker (dict | callable, optional): ``dict(type=...)`` from ``RERANKERS`` or an object
            following its interface ``reranker(dist_qg, dist_gg, dist_qq=None)``; ``dist_gg`` /
            ``dist_qq`` are computed only if its ``needs_gg`` (default True) / ``needs_qq``
            (default False) attribute asks for them.
        save_features (str, optional): ``.npz`` path receiving ``qf, gf, q_pids, g_pids,
            q_camids, g_camids`` and, when every sample has an ``img_path``, ``q_img_paths``,
            ``g_img_paths`` (written atomically; ``tools/visualize.py`` reads the paths).
        device (str): where distances and ranking run (``'cpu'`` or ``'cuda'``).
        chunk_size (int, optional): queries per chunk in the ranking.

    After ``compute_metrics`` the query/gallery tensors stay in ``self.features`` (main process
    only) so a hook can call :meth:`evaluate_features` again, e.g. with another re-ranker.
    Subclasses may override :meth:`compute_distmat` (must return a *distance*: smaller = closer).

    Examples::
        >>> val_evaluator = dict(type='ReIDMetric', metric='cosine',
        ...                      reranker=dict(type='SomeReranker'))
    """
    default_prefix: Optional[str] = None

    def __init__(self, metric: str = 'euclidean', normalize_feature: bool = False,
                 ranks: Sequence[int] = (1, 5, 10), reranker: Union[None, dict, Any] = None,
                 save_features: Optional[str] = None, device: str = 'cpu',
                 chunk_size: Optional[int] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None, collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if metric not in DISTANCE_METRICS:
            raise ValueError(f'metric must be one of {DISTANCE_METRICS}, got {metric!r}')
        ranks = tuple(int(k) for k in ranks)
        if not ranks or min(ranks) < 1:
            raise ValueError(f'ranks must be positive integers, got {ranks}')
        self.metric = metric
        self.normalize_feature = normalize_feature
        self.ranks = ranks
        self.reranker = build_reranker(reranker)
        self.save_features = save_features
        self.device = device
        self.chunk_size = chunk_size
        self.features: Optional[Dict[str, torch.Tensor]] = None
        # Image paths of the query / gallery rows of ``self.features`` (None when unknown).
        self.img_paths: Optional[Dict[str, List[str]]] = None

    # ------------------------------------------------------------------ collection
    def collect_sample(self, sample: Any) -> dict:
        """What ``process`` keeps of one sample (subclasses add fields)."""
        out = dict(feature=to_cpu_feature(get_field(sample, 'pred_feature')),
                   pid=int(get_field(sample, 'pid')), camid=int(get_field(sample, 'camid')),
                   split=str(get_field(sample, 'split')))
        modality = get_field(sample, 'modality', None)
        if modality is not None:
            out['modality'] = str(modality)
        return add_img_path(out, sample)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for sample in data_samples:
            try:
                self.results.append(self.collect_sample(sample))
            except KeyError as e:
                raise KeyError(f'{type(self).__name__}: {e.args[0]}. The model must set '
                               '`pred_feature` in predict mode and the test dataset must give '
                               'each sample `pid`, `camid` and `split` (query|gallery)') from None

    # ------------------------------------------------------------------ computation
    def split_results(self, results: List[dict]):
        """Stack collected results into ``(qf, gf, q_pids, g_pids, q_camids, g_camids)``."""
        splits = [r['split'] for r in results]
        bad = set(splits) - {'query', 'gallery'}
        if bad:
            raise ValueError(f"{type(self).__name__}: split must be 'query' or 'gallery', "
                             f'got {sorted(bad)}')
        q = [r for r in results if r['split'] == 'query']
        g = [r for r in results if r['split'] == 'gallery']
        for name, part in (('query', q), ('gallery', g)):
            if not part:
                raise ValueError(
                    f'{type(self).__name__}: the {name} split is empty ({len(results)} samples '
                    f'seen, all {"gallery" if name == "query" else "query"}); evaluate on a '
                    'dataset that has both splits, e.g. a ConcatDataset of the query and '
                    'gallery datasets with `split` in each sample')

        def stack(part):
            return (torch.stack([r['feature'] for r in part]),
                    torch.tensor([r['pid'] for r in part], dtype=torch.long),
                    torch.tensor([r['camid'] for r in part], dtype=torch.long))

        qf, qp, qc = stack(q)
        gf, gp, gc = stack(g)
        return qf, gf, qp, gp, qc, gc

    def compute_distmat(self, qf: torch.Tensor, gf: torch.Tensor) -> torch.Tensor:
        """Distance matrix (smaller = more similar); override to rank with another measure."""
        if self.normalize_feature:
            qf, gf = l2_normalize(qf), l2_normalize(gf)
        return compute_distance(qf, gf, self.metric)

    def evaluate_features(self, q_feats, g_feats, q_pids, g_pids, q_camids, g_camids,
                          reranker: Union[None, bool, dict, Any] = None) -> Dict[str, float]:
        """Rank and score features; ``reranker=None`` uses the metric's own re-ranker,
        ``False`` none, a dict/object that re-ranker. Returns percentages."""
        if reranker is None:
            reranker = self.reranker
        elif reranker is False:
            reranker = None
        else:
            reranker = build_reranker(reranker)
        qf = torch.as_tensor(q_feats).to(self.device)
        gf = torch.as_tensor(g_feats).to(self.device)
        dist = self.compute_distmat(qf, gf)
        if reranker is not None:
            dist = rerank_distance(reranker, dist, qf, gf, self.compute_distmat)
        res = evaluate_rank(dist, q_pids, g_pids, q_camids, g_camids,
                            max_rank=max(self.ranks), chunk_size=self.chunk_size)
        return res.to_dict(self.ranks, percent=True)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        qf, gf, qp, gp, qc, gc = self.split_results(results)
        self.features = dict(q_feats=qf, g_feats=gf, q_pids=qp, g_pids=gp, q_camids=qc,
                             g_camids=gc)
        self.img_paths = None
        if all('img_path' in r for r in results):
            self.img_paths = {side: [r['img_path'] for r in results if r['split'] == side]
                              for side in ('query', 'gallery')}
        self.modalities = None
        if all('modality' in r for r in results):
            self.modalities = {side: [r['modality'] for r in results if r['split'] == side]
                               for side in ('query', 'gallery')}
        self.save_collected_features()
        return self.evaluate_features(qf, gf, qp, gp, qc, gc)

    def save_collected_features(self) -> None:
        """Write ``self.features`` to ``save_features`` (npz: qf, gf, q_pids, g_pids, q_camids,
        g_camids, plus q_img_paths, g_img_paths and q_modalities, g_modalities when known, and
        the evaluation's distance settings ``metric``, ``normalize_feature``, ``metric_class``)
        when that option is set; ``tools/rerank.py`` and ``tools/visualize.py`` read the file
        (rerank's "before" uses the same distance as this metric did)."""
        if not self.save_features or self.features is None:
            return
        f = self.features
        extra = dict(metric=np.asarray(str(self.metric)),
                     normalize_feature=np.asarray(bool(self.normalize_feature)),
                     metric_class=np.asarray(type(self).__name__))
        for key, found in (('img_paths', getattr(self, 'img_paths', None)),
                           ('modalities', getattr(self, 'modalities', None))):
            if found and len(found['query']) == len(f['q_pids']) \
                    and len(found['gallery']) == len(f['g_pids']):
                extra[f'q_{key}'] = np.asarray(found['query'], dtype=str)
                extra[f'g_{key}'] = np.asarray(found['gallery'], dtype=str)
        save_features_npz(self.save_features, qf=f['q_feats'], gf=f['g_feats'],
                          q_pids=f['q_pids'], g_pids=f['g_pids'], q_camids=f['q_camids'],
                          g_camids=f['g_camids'], **extra)
        print_log(f'{type(self).__name__}: features saved to {self.save_features}',
                  logger='current')
