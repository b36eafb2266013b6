"""MMEngine metrics for infrared-visible Re-ID: SYSU-MM01 and RegDB protocols."""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import print_log

from asym_plugins.registry import METRICS

from ..protocols import (
    SYSU_GALLERY_CAMIDS,
    SYSU_INFRARED_CAMIDS,
    SYSU_QUERY_CAMIDS,
    SYSU_VISIBLE_CAMIDS,
    evaluate_regdb,
    evaluate_sysu,
    load_sysu_permutation,
)
from ..rerankers.base import build_reranker
from .reid_metric import ReIDMetric, add_img_path, get_field, to_cpu_feature


def _pick_reranker(metric: ReIDMetric, reranker):
    if reranker is None:
        return metric.reranker
    if reranker is False:
        return None
    return build_reranker(reranker)


def _split_paths(results: List[dict], q_idx: np.ndarray, g_idx: np.ndarray
                 ) -> Optional[Dict[str, List[str]]]:
    """Image paths of the query / gallery rows (saved with the features), None if unknown."""
    if not all('img_path' in r for r in results):
        return None
    return dict(query=[results[i]['img_path'] for i in q_idx.tolist()],
                gallery=[results[i]['img_path'] for i in g_idx.tolist()])


@METRICS.register_module()
class SYSUMetric(ReIDMetric):
    """SYSU-MM01 protocol (``protocols.evaluate_sysu``): R1, R10, R20, mAP, mINP in percent,
    mean of ``trials`` random galleries (each trial logged).

    Query/gallery come from the cameras, not from ``split``: queries are the infrared cams 3/6,
    the gallery pool the visible cams of ``mode``. **Camids are 0-based** (cam1 -> 0 ... cam6 ->
    5; the cam-3 query / cam-2 gallery exclusion is camid 2 vs camid 1); samples carrying
    ``modality`` are checked against it, which catches 1-based camids.

    Args:
        mode (str): ``'all'`` | ``'indoor'``.
        shots (int): 1 (single-shot) or 10 (multi-shot) images per (pid, camera) in a gallery.
        trials (int): number of random galleries (10 in the protocol).
        seed (int): trial ``t`` samples with ``np.random.default_rng((seed, t))``.
        perm_file (str, optional): the official ``rand_perm_cam.mat`` (see
            :func:`~asym_plugins.evaluation.protocols.load_sysu_permutation`); galleries then
            match the official MATLAB code; needs ``img_path`` in the SYSU layout.
        Other arguments: as :class:`ReIDMetric` (``ranks`` default ``(1, 10, 20)``).

    Examples::
        >>> test_evaluator = dict(type='SYSUMetric', mode='indoor', shots=10)
    """

    def __init__(self, mode: str = 'all', shots: int = 1, trials: int = 10, seed: int = 0,
                 perm_file: Optional[str] = None, ranks: Sequence[int] = (1, 10, 20),
                 **kwargs) -> None:
        super().__init__(ranks=ranks, **kwargs)
        if mode not in SYSU_GALLERY_CAMIDS:
            raise ValueError(f"mode must be 'all' or 'indoor', got {mode!r}")
        if shots < 1 or trials < 1:
            raise ValueError(f'shots and trials must be >= 1, got {shots}, {trials}')
        self.mode, self.shots, self.trials, self.seed = mode, shots, trials, seed
        self.perm_file = perm_file
        self._permutation = None

    def collect_sample(self, sample: Any) -> dict:
        out = dict(feature=to_cpu_feature(get_field(sample, 'pred_feature')),
                   pid=int(get_field(sample, 'pid')), camid=int(get_field(sample, 'camid')),
                   modality=get_field(sample, 'modality', None))
        return add_img_path(out, sample, required=bool(self.perm_file))

    def check_search_mode(self, g_camids: np.ndarray) -> None:
        """An all-search metric needs the all-search gallery pool: refuse a pool without any
        outdoor camera (cam4 / cam5), i.e. a dataset built with ``search_mode='indoor'``."""
        outdoor = set(SYSU_GALLERY_CAMIDS['all']) - set(SYSU_GALLERY_CAMIDS['indoor'])
        if self.mode == 'all' and len(g_camids) and not np.isin(g_camids, list(outdoor)).any():
            raise ValueError(
                "SYSUMetric(mode='all') got a gallery pool with indoor cameras only (cam1, "
                "cam2): the test dataset was built with search_mode='indoor'. Set the same "
                "mode on both: SYSUMM01(search_mode=...) and SYSUMetric(mode=...).")

    @staticmethod
    def check_camids(camids: np.ndarray, modalities: Sequence[Optional[str]]) -> None:
        if camids.min() < 0 or camids.max() > 5:
            raise ValueError(f'SYSU-MM01 camids must be 0-based in 0..5 (cam1 -> 0), got range '
                             f'{camids.min()}..{camids.max()}')
        for cam, mod in zip(camids.tolist(), modalities):
            expected = ('infrared' if cam in SYSU_INFRARED_CAMIDS else 'visible')
            if mod is not None and mod != expected:
                raise ValueError(
                    f'SYSU-MM01 sample with camid {cam} has modality {mod!r}, expected '
                    f'{expected!r}: camids must be 0-based (infrared cam3/cam6 -> camids 2/5)')

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        feats = torch.stack([r['feature'] for r in results])
        pids = np.asarray([r['pid'] for r in results], dtype=np.int64)
        camids = np.asarray([r['camid'] for r in results], dtype=np.int64)
        self.check_camids(camids, [r.get('modality') for r in results])
        q = np.isin(camids, SYSU_QUERY_CAMIDS)
        g = np.isin(camids, SYSU_VISIBLE_CAMIDS)
        self.check_search_mode(camids[g])
        qi, gi = torch.from_numpy(np.flatnonzero(q)), torch.from_numpy(np.flatnonzero(g))
        self.features = dict(q_feats=feats[qi], g_feats=feats[gi],
                             q_pids=torch.from_numpy(pids[q]), g_pids=torch.from_numpy(pids[g]),
                             q_camids=torch.from_numpy(camids[q]),
                             g_camids=torch.from_numpy(camids[g]))
        # every sample has a path when perm_file is set (collect_sample requires it)
        self.img_paths = _split_paths(results, qi.numpy(), gi.numpy())
        self.save_collected_features()
        g_paths = self.img_paths['gallery'] if self.perm_file else None
        return self.evaluate_features(**self.features, g_paths=g_paths)

    def evaluate_features(self, q_feats, g_feats, q_pids, g_pids, q_camids, g_camids,
                          reranker=None, g_paths: Optional[Sequence[str]] = None
                          ) -> Dict[str, float]:
        """Run the protocol on features (query = infrared set, gallery = visible pool)."""
        permutation = None
        if self.perm_file:
            if self._permutation is None:
                self._permutation = load_sysu_permutation(self.perm_file)
            permutation = self._permutation
        qf = torch.as_tensor(q_feats).to(self.device)
        gf = torch.as_tensor(g_feats).to(self.device)
        res = evaluate_sysu(qf, gf, q_pids, g_pids, q_camids, g_camids, mode=self.mode,
                            shots=self.shots, trials=self.trials, seed=self.seed,
                            permutation=permutation, g_paths=g_paths,
                            distance=self.compute_distmat,
                            reranker=_pick_reranker(self, reranker), max_rank=max(self.ranks))
        out, std = res.to_dict(self.ranks), res.std_dict(self.ranks)
        print_log(f'SYSU-MM01 {self.mode}-search {self.shots}-shot, mean +- std of '
                  f'{self.trials} trials: '
                  + ', '.join(f'{k} {v:.2f} +- {std[k]:.2f}' for k, v in out.items()),
                  logger='current')
        return out


@METRICS.register_module()
class RegDBMetric(ReIDMetric):
    """RegDB protocol for one trial (``protocols.evaluate_regdb``), both directions.

    Every test image of the trial is evaluated; the ``modality`` of each sample (``'visible'`` |
    ``'infrared'``) decides the direction's query and gallery; camids are not used (nothing is
    excluded) and CMC is not identity-de-duplicated. Keys: ``v2t_R1``, ``v2t_R10``, ``v2t_R20``,
    ``v2t_mAP``, ``v2t_mINP`` and the same with ``t2v_`` (percent). Average the 10 trials'
    numbers with :func:`~asym_plugins.evaluation.protocols.average_results` or by hand.

    Examples::
        >>> test_evaluator = dict(type='RegDBMetric', metric='cosine')
    """
    KEYS = {'visible->thermal': 'v2t', 'thermal->visible': 't2v'}

    def __init__(self, ranks: Sequence[int] = (1, 10, 20), **kwargs) -> None:
        super().__init__(ranks=ranks, **kwargs)

    def collect_sample(self, sample: Any) -> dict:
        return add_img_path(dict(feature=to_cpu_feature(get_field(sample, 'pred_feature')),
                                 pid=int(get_field(sample, 'pid')),
                                 camid=int(get_field(sample, 'camid', -1)),
                                 modality=str(get_field(sample, 'modality'))), sample)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        mods = np.asarray([r['modality'] for r in results])
        feats = torch.stack([r['feature'] for r in results])
        pids = torch.tensor([r['pid'] for r in results], dtype=torch.long)
        cams = torch.tensor([r['camid'] for r in results], dtype=torch.long)
        v, t = torch.from_numpy(mods == 'visible'), torch.from_numpy(mods == 'infrared')
        unknown = set(mods.tolist()) - {'visible', 'infrared'}
        if unknown:
            raise ValueError(f"RegDB modality must be 'visible' or 'infrared', got {unknown}")
        self.features = dict(q_feats=feats[v], g_feats=feats[t], q_pids=pids[v],
                             g_pids=pids[t], q_camids=cams[v], g_camids=cams[t])
        self.img_paths = _split_paths(results, np.flatnonzero(v.numpy()),
                                      np.flatnonzero(t.numpy()))
        self.save_collected_features()  # q = visible, g = thermal
        return self.evaluate_features(**self.features)

    def evaluate_features(self, q_feats, g_feats, q_pids, g_pids, q_camids=None, g_camids=None,
                          reranker=None) -> Dict[str, float]:
        """``q_*`` = visible images, ``g_*`` = thermal images; both directions are scored."""
        qf = torch.as_tensor(q_feats).to(self.device)
        gf = torch.as_tensor(g_feats).to(self.device)
        feats = torch.cat([qf, gf])
        pids = torch.cat([torch.as_tensor(q_pids), torch.as_tensor(g_pids)])
        mods = ['visible'] * len(qf) + ['infrared'] * len(gf)
        res = evaluate_regdb(feats, pids, mods, distance=self.compute_distmat,
                             reranker=_pick_reranker(self, reranker), max_rank=max(self.ranks))
        out = {}
        for name, r in res.items():
            out.update({f'{self.KEYS[name]}_{k}': v for k, v in r.to_dict(self.ranks).items()})
        return out
