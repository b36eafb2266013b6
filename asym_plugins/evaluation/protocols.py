"""Evaluation protocols beyond the market rule: SYSU-MM01, RegDB, text -> image.

All rules follow ``docs/datasets.md`` (protocol sections).

.. warning:: **SYSU-MM01 camera ids are 0-based here** (the package convention, ``CONTRACTS.md``):
   ``cam1 -> 0``, ``cam2 -> 1``, ``cam3 -> 2``, ``cam4 -> 3``, ``cam5 -> 4``, ``cam6 -> 5``.
   Queries are the infrared cams 3 and 6 (camids ``2, 5``); the all-search gallery is cams
   1, 2, 4, 5 (camids ``0, 1, 3, 4``), indoor-search cams 1, 2 (camids ``0, 1``); the official
   exclusion "cam-3 query: drop every cam-2 gallery image" is ``q_camid == 2 and g_camid == 1``
   (the python ``eval_sysu`` of AGW writes it 1-based: ``(q_camid == 3) & (g_camids == 2)``).
   Feeding 1-based camids silently evaluates the wrong protocol, so :class:`SYSUMetric` checks
   camids against the modality of each sample.
"""
import logging
import os.path as osp
import re
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.logging import print_log

from ..progress import progress as _progress
from .distance import compute_distance
from .rank import ArrayLike, RankResult, evaluate_ranking
from .rerankers.base import rerank_distance

DistanceFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: 0-based SYSU-MM01 cameras (``cam1`` -> 0).
SYSU_QUERY_CAMIDS = (2, 5)
SYSU_GALLERY_CAMIDS = {'all': (0, 1, 3, 4), 'indoor': (0, 1)}
SYSU_EXCLUDED_CAMID_PAIR = (2, 1)  # (query camid, gallery camid): cam3 query never sees cam2
SYSU_VISIBLE_CAMIDS = (0, 1, 3, 4)
SYSU_INFRARED_CAMIDS = (2, 5)


class TrialsResult(NamedTuple):
    """Mean over trials (``mean``: a :class:`RankResult`) and every trial's result."""
    mean: RankResult
    trials: List[RankResult]

    def to_dict(self, ranks: Sequence[int] = (1, 10, 20), percent: bool = True) -> dict:
        return self.mean.to_dict(ranks, percent)

    def std_dict(self, ranks: Sequence[int] = (1, 10, 20), percent: bool = True) -> dict:
        """Sample standard deviation over the trials of every key of :meth:`to_dict`
        (0 for a single trial)."""
        per = [t.to_dict(ranks, percent) for t in self.trials]
        return {k: float(np.std([d[k] for d in per], ddof=1)) if len(per) > 1 else 0.0
                for k in per[0]}


def average_results(results: Sequence[RankResult]) -> RankResult:
    """Mean CMC / mAP / mINP over trials (``num_valid`` / ``num_skipped`` are summed).

    Examples::
        >>> mean = average_results([evaluate_regdb(...)['visible->thermal'] for each trial])
    """
    if len(results) == 0:
        raise ValueError('average_results got no result')
    n = min(len(r.cmc) for r in results)
    cmc = np.mean([r.cmc[:n] for r in results], axis=0).astype(np.float32)
    gallery = [r.num_gallery for r in results]
    return RankResult(cmc, float(np.mean([r.mAP for r in results])),
                      float(np.mean([r.mINP for r in results])),
                      sum(r.num_valid for r in results), sum(r.num_skipped for r in results),
                      num_gallery=None if None in gallery else min(gallery))


def _np(x, dtype=np.int64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x).astype(dtype, copy=False).reshape(-1)


def _distances(q_feats, g_feats, distance: Union[str, DistanceFn], reranker) -> torch.Tensor:
    if isinstance(distance, str):
        metric = distance

        def distance(a, b):
            return compute_distance(a, b, metric)
    dist = distance(q_feats, g_feats)
    if reranker is not None:
        dist = rerank_distance(reranker, dist, q_feats, g_feats, distance)
    return dist


# --------------------------------------------------------------------------- SYSU-MM01
def sysu_exclusion(q_camids: ArrayLike, g_camids: ArrayLike, device=None):
    """SYSU-MM01 rule: a cam-3 query (camid 2) never sees cam-2 gallery images (camid 1),
    whatever their pid (the two cameras share a room). Returns an ``exclude(rows)`` callable.

    Examples::
        >>> ex = sysu_exclusion([2, 5], [0, 1, 1])
        >>> ex(slice(0, 2))
        tensor([[False,  True,  True],
                [False, False, False]])
    """
    qc = torch.as_tensor(_np(q_camids), device=device)
    gc = torch.as_tensor(_np(g_camids), device=device)
    qcam, gcam = SYSU_EXCLUDED_CAMID_PAIR
    g_bad = gc == gcam

    def exclude(rows: slice) -> torch.Tensor:
        return (qc[rows] == qcam)[:, None] & g_bad[None, :]

    return exclude


def evaluate_sysu_trial(distmat, q_pids, g_pids, q_camids, g_camids,
                        max_rank: int = 20) -> RankResult:
    """One SYSU-MM01 gallery trial: official exclusion, identity-level CMC (after the
    exclusion, repeated gallery pids are dropped keeping the best-ranked one), mAP and mINP on
    the full ranking. Camids 0-based (module docstring).

    Examples::
        >>> cmc, mAP, mINP = evaluate_sysu_trial(distmat, q_pids, g_pids, q_camids, g_camids)
    """
    d = distmat if isinstance(distmat, torch.Tensor) else torch.as_tensor(np.asarray(distmat))
    return evaluate_ranking(d, q_pids, g_pids, exclude=sysu_exclusion(q_camids, g_camids,
                                                                      d.device),
                            dedup_cmc=True, max_rank=max_rank, what='SYSU-MM01 trial')


def sample_sysu_gallery(g_pids: ArrayLike, g_camids: ArrayLike, shots: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Indices (ascending) of one random gallery: ``shots`` images per (pid, camera) drawn
    without replacement (all of them when a pair has fewer).

    Examples::
        >>> idx = sample_sysu_gallery(g_pids, g_camids, 1, np.random.default_rng((0, trial)))
    """
    pids, cams = _np(g_pids), _np(g_camids)
    if shots < 1:
        raise ValueError(f'shots must be >= 1, got {shots}')
    keys = rng.random(len(pids))
    order = np.lexsort((keys, cams, pids))  # by pid, then cam, then random key
    p, c = pids[order], cams[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (p[1:] != p[:-1]) | (c[1:] != c[:-1])
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(order)), 0))
    rank_in_group = np.arange(len(order)) - group_start
    return np.sort(order[rank_in_group < shots])


_SYSU_PATH = re.compile(r'cam(\d)[/\\](\d+)[/\\](\d+)\.\w+$')


def parse_sysu_path(path: str):
    """``.../cam3/0004/0002.jpg`` -> ``(3, 4, 2)``: 1-based camera, original pid, image number."""
    m = _SYSU_PATH.search(path)
    if m is None:
        raise ValueError(f'{path!r} does not follow the SYSU-MM01 layout cam<c>/<pid:04d>/'
                         '<nnnn>.jpg, which the official permutation file needs')
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def load_sysu_permutation(path: str) -> List[List[np.ndarray]]:
    """Read the official ``rand_perm_cam.mat`` (SYSU-MM01 ``evaluation/data_split``).

    Expected format (what the MATLAB evaluation and the python ports index as
    ``perm[cam - 1][0].squeeze()[pid - 1][trial][:shots]``): a variable ``rand_perm_cam`` that is
    a 6-element cell array (one per camera, ``cam1``..``cam6``), each holding a cell array with
    one entry per original person id (1-based: entry ``pid - 1``), each entry a numeric matrix
    ``(num_trials, num_images)`` of 1-based image numbers (``0003`` -> 3), empty when the person
    has no image in that camera.

    Returns:
        ``table[cam_index][pid - 1]`` -> int array ``(num_trials, num_images)`` (maybe empty).

    Raises:
        ValueError: the file does not have this structure (the message says what differs).
    """
    from scipy.io import loadmat
    if not osp.isfile(path):
        raise FileNotFoundError(f'SYSU-MM01 permutation file not found: {path} (download '
                                'evaluation/data_split/rand_perm_cam.mat of the official repo)')
    content = loadmat(path)
    if 'rand_perm_cam' not in content:
        keys = [k for k in content if not k.startswith('__')]
        raise ValueError(f'{path}: no variable "rand_perm_cam" (found {keys}); expected the '
                         'official SYSU-MM01 rand_perm_cam.mat')
    cells = np.asarray(content['rand_perm_cam'])
    if cells.dtype != object or cells.size != 6:
        raise ValueError(f'{path}: rand_perm_cam must be a 6-element cell array (one per '
                         f'camera), got dtype {cells.dtype} shape {cells.shape}')
    table = []
    for cam_index, cam_cell in enumerate(cells.reshape(-1)):
        per_pid = np.asarray(cam_cell)
        while per_pid.dtype == object and per_pid.size == 1 and \
                np.asarray(per_pid.reshape(-1)[0]).dtype == object:
            per_pid = np.asarray(per_pid.reshape(-1)[0])  # unwrap 1x1 cell levels
        if per_pid.dtype != object:
            raise ValueError(f'{path}: rand_perm_cam{{{cam_index + 1}}} must be a cell array '
                             f'with one entry per person id, got dtype {per_pid.dtype}')
        entries = []
        for pid_index, entry in enumerate(per_pid.reshape(-1)):
            arr = np.asarray(entry)
            if arr.size and not np.issubdtype(arr.dtype, np.number):
                raise ValueError(f'{path}: rand_perm_cam{{{cam_index + 1}}}{{{pid_index + 1}}} '
                                 f'must be a numeric (trials x images) matrix, got {arr.dtype}')
            entries.append(arr.astype(np.int64).reshape(arr.shape[0], -1) if arr.size
                           else np.zeros((0, 0), dtype=np.int64))
        table.append(entries)
    return table


def sysu_gallery_from_permutation(table: List[List[np.ndarray]], g_cams_1based: ArrayLike,
                                  g_orig_pids: ArrayLike, g_img_numbers: ArrayLike, trial: int,
                                  shots: int) -> np.ndarray:
    """Gallery indices of ``trial`` (0-based) chosen by the official permutation ``table``:
    for each (camera, pid) present in the pool, images ``table[cam-1][pid-1][trial][:shots]``.

    Raises:
        ValueError: the table has no entry for a (camera, pid) of the pool, fewer trials than
            asked, or names an image the pool does not contain.
    """
    cams, pids, nums = _np(g_cams_1based), _np(g_orig_pids), _np(g_img_numbers)
    lookup = {(c, p, n): i for i, (c, p, n) in enumerate(zip(cams, pids, nums))}
    chosen = []
    for c, p in sorted(set(zip(cams.tolist(), pids.tolist()))):
        if not (1 <= c <= len(table)) or not (1 <= p <= len(table[c - 1])):
            raise ValueError(f'permutation table has no entry for cam{c} pid {p}')
        perm = table[c - 1][p - 1]
        if perm.shape[0] <= trial:
            raise ValueError(f'permutation table for cam{c} pid {p} has {perm.shape[0]} trials, '
                             f'trial {trial} requested')
        for n in perm[trial][:shots].tolist():
            if (c, p, n) not in lookup:
                raise ValueError(f'permutation names cam{c}/{p:04d}/{n:04d}, which is not in '
                                 'the gallery pool: was the whole test set loaded?')
            chosen.append(lookup[(c, p, n)])
    return np.sort(np.asarray(chosen, dtype=np.int64))


def evaluate_sysu(q_feats, g_feats, q_pids, g_pids, q_camids, g_camids, mode: str = 'all',
                  shots: int = 1, trials: int = 10, seed: int = 0,
                  permutation: Optional[List[List[np.ndarray]]] = None,
                  g_paths: Optional[Sequence[str]] = None,
                  distance: Union[str, DistanceFn] = 'euclidean', reranker=None,
                  max_rank: int = 20, log: bool = True) -> TrialsResult:
    """SYSU-MM01 protocol: ``trials`` random galleries, mean reported, each trial logged.

    Queries: infrared cams 3 and 6 (camids 2, 5); gallery pool: visible cams of ``mode``
    (``'all'``: camids 0, 1, 3, 4; ``'indoor'``: 0, 1); per trial ``shots`` (1 single-shot,
    10 multi-shot) random images per (pid, camera), drawn with
    ``np.random.default_rng((seed, trial))``, or the official ``permutation`` table
    (:func:`load_sysu_permutation`, needs ``g_paths`` in the ``cam<c>/<pid>/<nnnn>.jpg`` layout).
    Each trial: :func:`evaluate_sysu_trial` (cam-3/cam-2 exclusion, identity-level CMC).
    Query-gallery distances (and ``dist_gg``/``dist_qq`` for a re-ranker) are computed once on the
    whole pool; a re-ranker is applied to each trial's sub-matrices.

    Args:
        q_feats, g_feats: features; the query/gallery sets may contain other cameras, they are
            filtered here. Camids are 0-based.
        distance: ``'euclidean'`` | ``'sqeuclidean'`` | ``'cosine'`` or ``fn(a, b) -> dist``.
        reranker: optional re-ranker (``RERANKERS`` interface).

    Returns:
        TrialsResult: ``.mean`` (RankResult) and ``.trials``.

    Examples::
        >>> res = evaluate_sysu(qf, gf, q_pids, g_pids, q_camids, g_camids, mode='indoor')
        >>> res.to_dict()  # {'R1': .., 'R10': .., 'R20': .., 'mAP': .., 'mINP': ..} in percent
    """
    if mode not in SYSU_GALLERY_CAMIDS:
        raise ValueError(f"mode must be 'all' or 'indoor', got {mode!r}")
    if trials < 1:
        raise ValueError(f'trials must be >= 1, got {trials}')
    q_pids, g_pids, q_camids, g_camids = map(_np, (q_pids, g_pids, q_camids, g_camids))
    q_sel = np.flatnonzero(np.isin(q_camids, SYSU_QUERY_CAMIDS))
    g_sel = np.flatnonzero(np.isin(g_camids, SYSU_GALLERY_CAMIDS[mode]))
    if len(q_sel) == 0:
        raise ValueError('SYSU-MM01: no query from the infrared cams 3/6 (camids 2, 5; '
                         'camids must be 0-based)')
    if len(g_sel) == 0:
        raise ValueError(f'SYSU-MM01 {mode}-search: no gallery image from camids '
                         f'{SYSU_GALLERY_CAMIDS[mode]} (camids must be 0-based)')
    qf = torch.as_tensor(q_feats)[torch.from_numpy(q_sel)]
    gf = torch.as_tensor(g_feats)[torch.from_numpy(g_sel)]
    qp, qc = q_pids[q_sel], q_camids[q_sel]
    gp, gc = g_pids[g_sel], g_camids[g_sel]
    if isinstance(distance, str):
        metric = distance

        def distance(a, b):
            return compute_distance(a, b, metric)
    dist_qg = distance(qf, gf)
    dist_gg = dist_qq = None
    if reranker is not None:
        if getattr(reranker, 'needs_gg', True):
            dist_gg = distance(gf, gf)
        if getattr(reranker, 'needs_qq', False):
            dist_qq = distance(qf, qf)
    if permutation is not None:
        if g_paths is None:
            raise ValueError('the SYSU-MM01 permutation file needs the gallery image paths')
        parsed = np.asarray([parse_sysu_path(g_paths[i]) for i in g_sel]).reshape(-1, 3)
    results = []
    for t in _progress(range(trials), desc=f'SYSU-MM01 {mode}-search trials', unit='trial'):
        if permutation is not None:
            idx = sysu_gallery_from_permutation(permutation, parsed[:, 0], parsed[:, 1],
                                                parsed[:, 2], t, shots)
        else:
            idx = sample_sysu_gallery(gp, gc, shots, np.random.default_rng((seed, t)))
        it = torch.from_numpy(idx).to(dist_qg.device)
        d = dist_qg.index_select(1, it)
        if reranker is not None:
            dgg = None if dist_gg is None else dist_gg.index_select(0, it).index_select(1, it)
            d = reranker(d, dgg, dist_qq)
        res = evaluate_sysu_trial(d, qp, gp[idx], qc, gc[idx], max_rank=max_rank)
        if log:
            print_log(f'SYSU-MM01 {mode}-search {shots}-shot trial {t + 1}/{trials}: gallery '
                      f'{len(idx)}, R1 {res.cmc[0]:.2%}, mAP {res.mAP:.2%}, '
                      f'mINP {res.mINP:.2%}', logger='current', level=logging.INFO)
        results.append(res)
    return TrialsResult(average_results(results), results)


# --------------------------------------------------------------------------- RegDB
REGDB_DIRECTIONS = {'visible->thermal': ('visible', 'infrared'),
                    'thermal->visible': ('infrared', 'visible')}


def evaluate_regdb(feats, pids: ArrayLike, modalities: Sequence[str],
                   distance: Union[str, DistanceFn] = 'euclidean', reranker=None,
                   max_rank: int = 20) -> Dict[str, RankResult]:
    """RegDB, one trial, both directions (``'visible->thermal'``, ``'thermal->visible'``).

    Every test image of the trial is given once with its modality (``'visible'`` or
    ``'infrared'`` = thermal); each direction queries one modality against the other. Nothing is
    excluded (query camid 1 vs gallery camid 2) and CMC is not identity-de-duplicated. The
    protocol's 10 trials use 10 models: average the per-trial results with
    :func:`average_results`.

    Examples::
        >>> res = evaluate_regdb(feats, pids, ['visible'] * 2060 + ['infrared'] * 2060)
        >>> res['visible->thermal'].cmc[0], res['thermal->visible'].mAP
    """
    pids = _np(pids)
    mods = np.asarray(list(modalities))
    if len(mods) != len(pids):
        raise ValueError(f'modalities has {len(mods)} entries, pids {len(pids)}')
    unknown = set(mods.tolist()) - {'visible', 'infrared'}
    if unknown:
        raise ValueError(f"RegDB modalities must be 'visible' or 'infrared', got {unknown}")
    feats = torch.as_tensor(feats)
    out = {}
    for name, (qm, gm) in REGDB_DIRECTIONS.items():
        qi, gi = np.flatnonzero(mods == qm), np.flatnonzero(mods == gm)
        if len(qi) == 0 or len(gi) == 0:
            raise ValueError(f'RegDB {name}: needs both modalities in the test set '
                             f'(got {len(qi)} {qm} and {len(gi)} {gm} images)')
        qf, gf = feats[torch.from_numpy(qi)], feats[torch.from_numpy(gi)]
        dist = _distances(qf, gf, distance, reranker)
        out[name] = evaluate_ranking(dist, pids[qi], pids[gi], max_rank=max_rank,
                                     what=f'RegDB {name}')
    return out


# --------------------------------------------------------------------------- text -> image
def text_image_distance(text_feats, image_feats) -> torch.Tensor:
    """``1 - cosine`` of L2-normalised features (IRRA ranks by the cosine similarity)."""
    return compute_distance(text_feats, image_feats, 'cosine')


def evaluate_text_to_image(text_feats, image_feats, text_pids: ArrayLike,
                           image_pids: ArrayLike, max_rank: int = 10) -> RankResult:
    """Text -> image retrieval as IRRA computes it: every caption queries every gallery image,
    cosine similarity of L2-normalised features, no camera filter; a caption's positives are the
    images of its pid. Report R1/R5/R10, mAP, mINP x100 (``result.to_dict()``).

    Examples::
        >>> res = evaluate_text_to_image(txt, img, txt_pids, img_pids)
        >>> res.to_dict((1, 5, 10))
    """
    dist = text_image_distance(text_feats, image_feats)
    return evaluate_ranking(dist, text_pids, image_pids, max_rank=max_rank,
                            what='text->image')
