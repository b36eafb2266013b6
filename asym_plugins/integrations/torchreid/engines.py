"""torchreid engines for the methods: training through each method's own loss, testing through
our evaluation core, with re-rankers in the test flow.

* :class:`ReIDEngine` (the base of the others; :class:`BoTEngine`, the baseline's, is it
  unchanged): ``forward_backward`` turns the torchreid batch into
  :class:`~asym_plugins.structures.ReIDDataSample` s and calls the wrapped MMEngine model's
  ``loss`` (BoT: label-smoothed ID + batch-hard triplet), so a method trains with exactly the
  same losses as under MMEngine. ``_evaluate`` ranks with
  :func:`asym_plugins.evaluation.evaluate_rank` (plus CMC-based mINP) and applies a re-ranker
  (``reranker=`` at construction, or ``rerank=`` of ``run``/``test``: ``True`` or
  ``'k_reciprocal'``, ``'sim'``, ``dict(type=..., **kw)``, a ``re_ranking``-signature function).
* :class:`MoSEngine`: ID + Jaccard triplet with the co-occurrence prior updated every batch;
  test distance ``1 - J`` with CP re-scoring of each query's top-R (``cp_lambda``).
* :class:`SAPEngine`: attaches the teacher's part targets to every training sample (the
  dataset's part masks moved with the image, or a batch / source teacher).
* :class:`MCMAEngine`: image-caption pairs in training, text -> image retrieval at test time.
* :class:`AGWEngine`: cross-modality batches (:class:`TorchreidCrossModalitySampler`: P
  identities x (K visible + K infrared) images), modality in each sample.

Which engine a method uses, and with which arguments, is its entry of
:data:`~.registration.METHODS` (:func:`engine_for`). The old names ``AsymEngine`` (now
:class:`ReIDEngine`) and ``CrossModalityIdentitySampler`` (K in total; now
:class:`TorchreidCrossModalitySampler`, K per modality) work for one release.

torchreid's ``dist_metric='euclidean'`` is its squared Euclidean distance (same ranking as
the true one; it matters for re-rankers, which see the values): it is kept here, so the
re-ranked numbers are those of torchreid's own flow.

Examples::
    >>> engine = MoSEngine(datamanager, model, optimizer, scheduler=scheduler, cp_lambda=0.1)
    >>> engine.run(save_dir='log/mos', max_epoch=60, eval_freq=10)
    >>> engine.last_results        # {'rank1': ..., 'mAP': ..., 'mINP': ..., 'cmc': [...]}
"""
import os.path as osp
import random
import time
import warnings
from collections import defaultdict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler
from torchvision.transforms import Normalize

from asym_plugins.evaluation import compute_distance as core_compute_distance
from asym_plugins.evaluation import evaluate_rank, evaluate_text_to_image
from asym_plugins.evaluation.rerankers import rerank_distance
from asym_plugins.methods.mos import hard_jaccard_similarity, rescore_topr
from asym_plugins.methods.sap import SampleMaskTeacher, build_teacher
from asym_plugins.structures import ReIDDataSample

from . import compat
from .evaluation import torchreid_evaluate_rank
from .models import TorchreidModel
from .registration import METHODS, build_torchreid_reranker, method_entry

__all__ = ['ReIDEngine', 'BoTEngine', 'MoSEngine', 'SAPEngine', 'MCMAEngine', 'AGWEngine',
           'TorchreidCrossModalitySampler', 'ENGINES', 'engine_for']

_Engine = compat.engine_base('Engine')
_METRIC_MAP = {'euclidean': 'sqeuclidean', 'cosine': 'cosine', 'sqeuclidean': 'sqeuclidean',
               'l2': 'euclidean'}


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, 'module') and isinstance(model.module, nn.Module) \
        else model


class ReIDEngine(_Engine):
    """Engine training a factory-built model (:mod:`.models`) through its method's loss.

    Args:
        datamanager: torchreid ``ImageDataManager``.
        model: a model from our factories (``asym_small``, ``mos_resnet50``...), optionally
            wrapped in ``nn.DataParallel``.
        optimizer, scheduler: torchreid's ``build_optimizer`` / ``build_lr_scheduler`` output.
        use_gpu: move batches to CUDA when available (torchreid's convention).
        reranker: re-ranker applied at every test (see the module docstring); None: none.
        clip_grad: max gradient norm (None: no clipping).
    """

    def __init__(self, datamanager, model: nn.Module, optimizer, scheduler=None,
                 use_gpu: bool = True, reranker: Any = None,
                 clip_grad: Optional[float] = None) -> None:
        super().__init__(datamanager, use_gpu)
        if not isinstance(_unwrap(model), TorchreidModel):
            raise TypeError(f'{type(self).__name__} trains models built by asym_plugins '
                            f'factories (bot_*, mos_*, sap_*, mcma_*, agw_*), got '
                            f'{type(_unwrap(model)).__name__}; use torchreid\'s '
                            f'ImageSoftmaxEngine / ImageTripletEngine for its own models.')
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.register_model('model', model, optimizer, scheduler)
        self.reranker = build_torchreid_reranker(reranker)
        self.clip_grad = clip_grad
        self.last_results: Optional[Dict[str, Any]] = None
        # torchreid's open_all_layers() sets requires_grad on every parameter each epoch; the
        # methods freeze some on purpose (BoT's BNNeck shift, MCMA's text embeddings).
        self._requires_grad = {n: p.requires_grad for n, p in model.named_parameters()}

    def two_stepped_transfer_learning(self, epoch, fixbase_epoch, open_layers, model=None):
        model = self.model if model is None else model
        if (epoch + 1) <= fixbase_epoch and open_layers is not None:
            return super().two_stepped_transfer_learning(epoch, fixbase_epoch, open_layers,
                                                         model)
        model.train()
        for name, p in model.named_parameters():
            p.requires_grad_(self._requires_grad.get(name, True))

    def save_model(self, epoch, rank1, save_dir, is_best=False):
        """torchreid's checkpoint layout (``<save_dir>/<name>/model.pth.tar-<epoch>``), also
        without a scheduler (torchreid's own ``save_model`` fails on ``scheduler=None``);
        ``rank1`` is stored as a Python float."""
        utils = compat.torchreid_module('utils')
        for name in self.get_model_names():
            sched = self._scheds[name]
            utils.save_checkpoint(
                {'state_dict': self._models[name].state_dict(), 'epoch': epoch + 1,
                 'rank1': float(rank1), 'optimizer': self._optims[name].state_dict(),
                 'scheduler': sched.state_dict() if sched is not None else None},
                osp.join(save_dir, name), is_best=is_best)

    @property
    def asym_model(self) -> nn.Module:
        """The wrapped MMEngine model (its ``loss`` is what trains)."""
        return _unwrap(self.model).asym_model

    # ------------------------------------------------------------------ training
    def data_samples(self, data: Dict[str, Any], pids: torch.Tensor) -> list:
        """One ReIDDataSample per batch item: ``gt_label`` = torchreid's (relabelled) pid,
        metainfo ``img_path``, ``camid``, ``modality`` and, when present, ``captions``."""
        n = pids.shape[0]
        paths = data.get('impath', [None] * n)
        camids = data.get('camid', torch.zeros(n, dtype=torch.long))
        modality = data.get('modality', torch.zeros(n, dtype=torch.long))
        captions = data.get('caption')
        samples = []
        for i in range(n):
            meta = dict(img_path=paths[i], pid=int(pids[i]), camid=int(camids[i]),
                        modality='infrared' if int(modality[i]) == 1 else 'visible')
            if captions is not None:
                meta['captions'] = [captions[i]]
            samples.append(ReIDDataSample(metainfo=meta).set_gt_label(pids[i].reshape(1)))
        for s in samples:
            s.gt_label = s.gt_label.to(pids.device)
        return samples

    def prepare_batch(self, data: Dict[str, Any]) -> Tuple[torch.Tensor, list]:
        imgs, pids = self.parse_data_for_train(data)
        if self.use_gpu:
            imgs, pids = imgs.cuda(), pids.cuda()
        return imgs, self.data_samples(data, pids)

    def compute_losses(self, imgs: torch.Tensor, samples: list) -> Dict[str, torch.Tensor]:
        return self.asym_model.loss(imgs, samples)

    def forward_backward(self, data: Dict[str, Any]) -> Dict[str, float]:
        imgs, samples = self.prepare_batch(data)
        losses = self.compute_losses(imgs, samples)
        terms = [v for k, v in losses.items() if k.startswith('loss')]
        if not terms:
            raise ValueError(f'{type(self).__name__}: the model returned no loss term '
                             f'({sorted(losses)}).')
        total = sum(terms)
        if not torch.isfinite(total):
            raise FloatingPointError(f'{type(self).__name__}: non-finite loss '
                                     f'{ {k: float(v) for k, v in losses.items()} }; lower the '
                                     f'learning rate or check the data.')
        self.optimizer.zero_grad()
        total.backward()
        if self.clip_grad:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad)
        self.optimizer.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    # ------------------------------------------------------------------ testing
    def compute_distance(self, qf: torch.Tensor, gf: torch.Tensor,
                         dist_metric: str = 'euclidean') -> torch.Tensor:
        """Query-gallery distances (smaller = closer); ``dist_metric`` as torchreid names it."""
        if dist_metric not in _METRIC_MAP:
            raise ValueError(f'dist_metric must be one of {sorted(_METRIC_MAP)}, got '
                             f'{dist_metric!r}.')
        return core_compute_distance(qf, gf, _METRIC_MAP[dist_metric])

    @torch.no_grad()
    def extract_split(self, loader) -> Tuple[torch.Tensor, np.ndarray, np.ndarray]:
        feats, pids, camids = [], [], []
        for data in loader:
            imgs, p, c = self.parse_data_for_eval(data)
            if self.use_gpu:
                imgs = imgs.cuda()
            feats.append(self.batch_features(imgs, data).float().cpu())
            pids.extend(p.tolist())
            camids.extend(c.tolist())
        return torch.cat(feats), np.asarray(pids), np.asarray(camids)

    def batch_features(self, imgs: torch.Tensor, data: Dict[str, Any]) -> torch.Tensor:
        """Test features of one batch (``data``: the loader's item dict, for engines whose
        model needs more than the images)."""
        return self.extract_features(imgs)

    def _resolve_reranker(self, rerank: Any) -> Optional[Callable]:
        if rerank is None or rerank is False:
            return self.reranker
        return build_torchreid_reranker(rerank)

    def _report(self, name: str, cmc: np.ndarray, mAP: float, mINP: float,
                ranks: Sequence[int], extra: str = '') -> None:
        print(f'** Results ({name}{extra}) **')
        print(f'mAP: {mAP:.1%}  mINP: {mINP:.1%}')
        print('CMC curve')
        for r in ranks:
            if r - 1 < len(cmc):
                print(f'Rank-{r:<3}: {cmc[r - 1]:.1%}')

    @torch.no_grad()
    def _evaluate(self, dataset_name: str = '', query_loader=None, gallery_loader=None,
                  dist_metric: str = 'euclidean', normalize_feature: bool = False,
                  visrank: bool = False, visrank_topk: int = 10, save_dir: str = '',
                  use_metric_cuhk03: bool = False, ranks=(1, 5, 10, 20), rerank: Any = False):
        start = time.time()
        qf, q_pids, q_camids = self.extract_split(query_loader)
        gf, g_pids, g_camids = self.extract_split(gallery_loader)
        print(f'Features: query {tuple(qf.shape)}, gallery {tuple(gf.shape)} '
              f'({time.time() - start:.1f}s)')
        if normalize_feature:
            qf, gf = F.normalize(qf, dim=1), F.normalize(gf, dim=1)

        def dist_fn(a, b):
            return self.compute_distance(a, b, dist_metric)

        dist = dist_fn(qf, gf)
        reranker = self._resolve_reranker(rerank)
        if reranker is not None:
            print(f'Re-ranking with {reranker!r} ...')
            dist = rerank_distance(reranker, dist, qf, gf, dist_fn)
        max_rank = max(max(ranks), 1)
        if use_metric_cuhk03:
            cmc, mAP = torchreid_evaluate_rank(dist.cpu().numpy(), q_pids, g_pids,
                                                     q_camids, g_camids, max_rank, True)
            mINP = float('nan')
        else:
            cmc, mAP, mINP = evaluate_rank(dist, q_pids, g_pids, q_camids, g_camids,
                                           max_rank=min(max_rank, dist.shape[1]))
            cmc = np.asarray(cmc)
        self._report(dataset_name, cmc, mAP, mINP, ranks,
                     ', re-ranked' if reranker is not None else '')
        self.last_results = dict(dataset=dataset_name, rank1=float(cmc[0]), mAP=float(mAP),
                                 mINP=float(mINP), cmc=[float(v) for v in cmc],
                                 reranker=repr(reranker) if reranker is not None else None)
        if visrank:
            utils = compat.torchreid_module('utils')
            utils.visualize_ranked_results(
                dist.cpu().numpy(), self.datamanager.fetch_test_loaders(dataset_name),
                self.datamanager.data_type, width=self.datamanager.width,
                height=self.datamanager.height,
                save_dir=osp.join(save_dir, 'visrank_' + dataset_name), topk=visrank_topk)
        return float(cmc[0]), float(mAP)

    def comparison_tests(self) -> List[Tuple[str, Callable[[], None]]]:
        """Extra test runs a report shows beside the main one: ``(name, run)`` pairs,
        ``run(**test_kwargs)`` testing a variant of the same model (``tools/torchreid_train.py``
        records each). None here."""
        return []


class BoTEngine(ReIDEngine):
    """The BoT baseline's engine (``bot_resnet50``, ``bot_small``...): :class:`ReIDEngine` as
    it is (the model's loss is BoT's label-smoothed ID + batch-hard triplet)."""


class MoSEngine(ReIDEngine):
    """MoS: trains with the model's ID + Jaccard triplet loss (prior updated every batch) and
    tests with ``1 - J`` (hard Jaccard on the pattern vectors), CP re-scoring each query's
    top-``top_r`` when ``cp_lambda > 0`` (``S = J - cp_lambda * CP``, ``docs/mos.md`` eq. (8)).

    Args:
        cp_lambda, cp_eps, cp_topk, top_r: CP re-scoring (as ``MoSMetric``).
        **kwargs: :class:`ReIDEngine` arguments.
    """

    def __init__(self, datamanager, model, optimizer, cp_lambda: float = 0.1,
                 cp_eps: float = 1.0, cp_topk: Optional[int] = 32, top_r: int = 50,
                 **kwargs) -> None:
        super().__init__(datamanager, model, optimizer, **kwargs)
        if not hasattr(self.asym_model, 'prior'):
            raise TypeError(f'MoSEngine needs a MoS model (mos_resnet50, mos_small...), got '
                            f'{type(self.asym_model).__name__}.')
        if cp_lambda < 0:
            raise ValueError(f'MoSEngine: cp_lambda must be >= 0, got {cp_lambda}.')
        self.cp_lambda, self.cp_eps, self.cp_topk, self.top_r = cp_lambda, cp_eps, cp_topk, top_r

    def compute_distance(self, qf, gf, dist_metric='euclidean'):
        for name, f in (('query', qf), ('gallery', gf)):
            if f.numel() and float(f.min()) < 0:
                raise ValueError(f'MoSEngine: {name} features are negative somewhere; the '
                                 f'Jaccard similarity needs the pattern vectors g (do not set '
                                 f'normalize_feature with negative features).')
        sim = hard_jaccard_similarity(qf, gf, chunk_size=256)
        if self.cp_lambda > 0:
            prior = self.asym_model.prior.M_p.detach().cpu()
            sim = rescore_topr(sim, qf, gf, prior, cp_lambda=self.cp_lambda, eps=self.cp_eps,
                               topk=self.cp_topk, top_r=self.top_r)
        return 1.0 - sim

    def comparison_tests(self) -> List[Tuple[str, Callable[[], None]]]:
        """With CP on: the same model ranked by J alone (``'mos (J only, no CP)'``)."""
        if self.cp_lambda <= 0:
            return []

        def j_only(**test_kwargs):
            cp, self.cp_lambda = self.cp_lambda, 0.0
            try:
                self.test(**test_kwargs)
            finally:
                self.cp_lambda = cp

        return [('mos (J only, no CP)', j_only)]


def _normalization(imgs: torch.Tensor, transform) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(mean, std)`` (1, 3, 1, 1) of the transform's torchvision ``Normalize`` (default:
    torchreid's)."""
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    for t in getattr(transform, 'transforms', []):
        if isinstance(t, Normalize):
            mean, std = t.mean, t.std
    m = torch.as_tensor(mean, dtype=imgs.dtype, device=imgs.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=imgs.dtype, device=imgs.device).view(1, -1, 1, 1)
    return m, s


def _denormalize_to_uint8(imgs: torch.Tensor, transform) -> torch.Tensor:
    """Normalised batch -> uint8 RGB (N, 3, H, W), undoing the transform's ``Normalize``."""
    m, s = _normalization(imgs, transform)
    return ((imgs * s + m) * 255.0).round().clamp(0, 255).to(torch.uint8)


def _to_grayscale(imgs: torch.Tensor, transform) -> torch.Tensor:
    """Normalised RGB batch -> the same images in grey (ITU-R 601 luma in every channel),
    normalised again."""
    m, s = _normalization(imgs, transform)
    rgb = imgs * s + m
    luma = (0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3])
    return (luma.expand_as(rgb) - m) / s


def _uses_sample_masks(teacher) -> bool:
    while teacher is not None:
        if isinstance(teacher, SampleMaskTeacher):
            return True
        teacher = getattr(teacher, 'teacher', None)
    return False


class SAPEngine(ReIDEngine):
    """SAP: every training sample gets the teacher's part target (``part_target``, label ids
    at the input resolution) before ``SAPModel.loss`` (ID + triplet on global and part
    features, patch / proxy distillation, SSD).

    Teachers (``teacher=`` a TEACHERS config, default ``dict(type='SampleMaskTeacher')``):

    * ``SampleMaskTeacher``: the dataset's own part masks (``part_masks/`` trees written by
      the synthetic writer, or the synthetic datasets), moved with the image by
      :class:`~.datasets.JointTransform`;
    * source teachers (``PrecomputedMaskTeacher``, ``KeypointTeacher``...): their mask of the
      original image, also moved with the image;
    * batch teachers (``RuleTeacher``, ``NoisyMaskTeacher``): the de-normalised batch.

    The training set must be one of our datasets (a single source: torchreid's multi-source
    sum drops per-image extras).
    """

    def __init__(self, datamanager, model, optimizer, teacher: Any = None, **kwargs) -> None:
        super().__init__(datamanager, model, optimizer, **kwargs)
        self.teacher = build_teacher(teacher or dict(type='SampleMaskTeacher'))
        dataset = self.train_loader.dataset
        if not hasattr(dataset, 'return_part_mask'):
            raise TypeError('SAPEngine: the training set is not an asym_plugins dataset (or '
                            'several sources were summed, which drops the part masks); train '
                            'on one of our registered datasets.')
        self.source_teacher = bool(getattr(self.teacher, 'source_geometry', False))
        if self.source_teacher:
            dataset.part_mask_fn = self.teacher.source_mask
        dataset.return_part_mask = self.source_teacher or _uses_sample_masks(self.teacher)
        self.transform = getattr(datamanager, 'transform_tr', None)

    def data_samples(self, data, pids):
        samples = super().data_samples(data, pids)
        masks = data.get('part_mask')
        if masks is not None:
            for s, m in zip(samples, masks):
                s.part_mask = m.to(pids.device)
        return samples

    def compute_losses(self, imgs, samples):
        if getattr(self.asym_model, 'needs_teacher', True):
            if self.source_teacher:
                targets = [s.part_mask for s in samples]
            else:
                targets = self.teacher.batch_masks(_denormalize_to_uint8(imgs, self.transform),
                                                   samples)
            for s, t in zip(samples, targets):
                s.part_target = t.long().to(imgs.device)
        return self.asym_model.loss(imgs, samples)


class MCMAEngine(ReIDEngine):
    """MCMA: trains on (image, one of its captions) pairs with MCMA's losses; tests text ->
    image (every caption of the query set ranks the gallery images, cosine similarity, no
    camera filter: the IRRA protocol of :func:`asym_plugins.evaluation.evaluate_text_to_image`).

    The datasets must carry captions (``cuhk_pedes``, ``icfg_pedes``, ``rstpreid``,
    ``synthetic_text``); use a P x K identity sampler with K >= 2 (cross-instance pairs).
    """

    def __init__(self, datamanager, model, optimizer, text_batch_size: int = 128,
                 **kwargs) -> None:
        super().__init__(datamanager, model, optimizer, **kwargs)
        if not hasattr(self.asym_model, 'encode_text'):
            raise TypeError(f'MCMAEngine needs an MCMA model (mcma_vit_cpu, mcma_vit_base), '
                            f'got {type(self.asym_model).__name__}.')
        self.text_batch_size = text_batch_size

    def prepare_batch(self, data):
        if 'caption' not in data:
            raise ValueError('MCMAEngine: training items carry no caption; train on a caption '
                             'dataset (cuhk_pedes, icfg_pedes, rstpreid, synthetic_text).')
        return super().prepare_batch(data)

    @torch.no_grad()
    def _evaluate(self, dataset_name='', query_loader=None, gallery_loader=None,
                  dist_metric='cosine', normalize_feature=True, visrank=False, visrank_topk=10,
                  save_dir='', use_metric_cuhk03=False, ranks=(1, 5, 10, 20), rerank=False):
        gf, g_pids, _ = self.extract_split(gallery_loader)
        qset = query_loader.dataset
        captions, t_pids = [], []
        for img_path, pid, _, _ in qset.query:
            for cap in qset.extras.get(img_path, {}).get('captions', []):
                captions.append(cap)
                t_pids.append(pid)
        if not captions:
            raise ValueError(f'MCMAEngine: the query set of {dataset_name!r} has no captions.')
        net = self.asym_model
        feats = [net.encode_text(captions[i:i + self.text_batch_size]).float().cpu()
                 for i in range(0, len(captions), self.text_batch_size)]
        tf = torch.cat(feats)
        res = evaluate_text_to_image(tf, gf, np.asarray(t_pids), g_pids,
                                     max_rank=min(max(ranks), gf.shape[0]))
        cmc, mAP, mINP = np.asarray(res[0]), float(res[1]), float(res[2])
        self._report(f'{dataset_name}, text->image, {len(captions)} captions', cmc, mAP, mINP,
                     ranks)
        self.last_results = dict(dataset=dataset_name, rank1=float(cmc[0]), mAP=mAP,
                                 mINP=mINP, cmc=[float(v) for v in cmc], reranker=None)
        return float(cmc[0]), mAP


class TorchreidCrossModalitySampler(Sampler):
    """P x (K + K) batches with both modalities for torchreid data: each identity contributes
    ``num_instances`` visible and ``num_instances`` infrared images (drawn with replacement
    when it has fewer). ``num_instances`` is K per identity and modality, as for
    :class:`asym_plugins.data.samplers.CrossModalityIdentitySampler` (the MMEngine sampler).

    Args:
        data_source: torchreid ``train`` tuples ``(img_path, pid, camid, dsetid)``.
        modalities: per index, 0 visible / 1 infrared.
        batch_size: P x 2K.
        num_instances: K, images per identity and modality.
        seed: base seed; every epoch draws a new order.
    """

    def __init__(self, data_source: Sequence, modalities: Sequence[int], batch_size: int,
                 num_instances: int, seed: int = 0) -> None:
        name = type(self).__name__
        if num_instances < 1:
            raise ValueError(f'{name}: num_instances (K per modality) must be >= 1, got '
                             f'{num_instances}.')
        group = 2 * num_instances
        if batch_size % group:
            raise ValueError(f'{name}: batch_size {batch_size} is not a multiple of 2 x '
                             f'num_instances = {group} (K visible + K infrared per identity).')
        self.batch_size, self.num_instances = batch_size, num_instances
        self.index = defaultdict(lambda: ([], []))
        for i, (item, modality) in enumerate(zip(data_source, modalities)):
            self.index[item[1]][int(modality)].append(i)
        self.pids = [p for p, (vis, ir) in self.index.items() if vis and ir]
        if len(self.pids) * group < batch_size:
            raise ValueError(f'{name}: only {len(self.pids)} identities have both visible and '
                             f'infrared training images; a batch needs {batch_size // group}.')
        self.seed, self.epoch = seed, 0
        self.ids_per_batch = batch_size // group
        self.length = (len(self.pids) // self.ids_per_batch) * batch_size

    def __iter__(self):
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
        pids = list(self.pids)
        rng.shuffle(pids)
        k = self.num_instances
        out = []
        for b in range(len(pids) // self.ids_per_batch):
            for pid in pids[b * self.ids_per_batch:(b + 1) * self.ids_per_batch]:
                for pool in self.index[pid]:
                    pick = rng.sample(pool, k) if len(pool) >= k else \
                        [rng.choice(pool) for _ in range(k)]
                    out.extend(pick)
        return iter(out)

    def __len__(self) -> int:
        return self.length


class _DeprecatedCrossModalityIdentitySampler(TorchreidCrossModalitySampler):
    """The old name, whose ``num_instances`` was K in total (K/2 per modality)."""

    def __init__(self, data_source: Sequence, modalities: Sequence[int], batch_size: int,
                 num_instances: int, seed: int = 0) -> None:
        warnings.warn('engines.CrossModalityIdentitySampler (num_instances = K in total) is '
                      'deprecated; use TorchreidCrossModalitySampler with num_instances = K per '
                      f'modality (here {num_instances // 2}).', DeprecationWarning, stacklevel=2)
        if num_instances < 2 or num_instances % 2:
            raise ValueError(f'CrossModalityIdentitySampler: num_instances must be even and '
                             f'>= 2 (K/2 per modality), got {num_instances}.')
        super().__init__(data_source, modalities, batch_size, num_instances // 2, seed)


class AGWEngine(ReIDEngine):
    """Cross-modality training: replaces the training loader with one drawing
    :class:`TorchreidCrossModalitySampler` batches (P identities x (K visible + K infrared))
    from the same dataset. Every sample's ``modality`` (0 visible / 1 infrared, carried by the
    items of our datasets) reaches the model: in training as the ``modality`` of the data
    samples given to the model's loss (the AGW models route each one through its stem), at
    test time as ``model(imgs, modality=...)`` for the AGW models (``agw_resnet50``,
    ``agw_small``); single-stream models (``bot_small``...) train the same way and ignore it.

    Args:
        batch_size: P x 2K (default: the data manager's loader's batch size).
        num_instances: K, images per identity and modality (the yaml's
            ``sampler.num_instances``); default 2.
        workers: loader workers.
        gray_prob: probability that a visible training image is turned grey (all channels =
            luma) before the model sees it [ours, the torchreid twin of the ``RandomGrayscale``
            of ``configs/_base_/datasets/synthetic_ir.py``]; 0: off (AGW's recipe).
        **kwargs: :class:`ReIDEngine` arguments.
    """

    def __init__(self, datamanager, model, optimizer, batch_size: Optional[int] = None,
                 num_instances: int = 2, workers: int = 0, gray_prob: float = 0.0,
                 **kwargs) -> None:
        super().__init__(datamanager, model, optimizer, **kwargs)
        if not 0.0 <= gray_prob <= 1.0:
            raise ValueError(f'AGWEngine: gray_prob must lie in [0, 1], got {gray_prob}.')
        self.gray_prob = gray_prob
        self.transform = getattr(datamanager, 'transform_tr', None)
        dataset = self.train_loader.dataset
        extras = getattr(dataset, 'extras', None)
        if extras is None:
            raise TypeError('AGWEngine: the training set is not an asym_plugins dataset; the '
                            'modality of each image is unknown.')
        modalities = [extras.get(item[0], {}).get('modality', 0) for item in dataset.train]
        batch_size = batch_size or self.train_loader.batch_size
        sampler = TorchreidCrossModalitySampler(dataset.train, modalities, batch_size,
                                                num_instances)
        self.train_loader = DataLoader(dataset, sampler=sampler, batch_size=batch_size,
                                       num_workers=workers, drop_last=True,
                                       pin_memory=self.use_gpu)

    @property
    def routes_modality(self) -> bool:
        return bool(getattr(self.asym_model, 'routes_modality', False))

    def prepare_batch(self, data):
        imgs, samples = super().prepare_batch(data)
        if self.gray_prob > 0:
            visible = torch.tensor([s.modality == 'visible' for s in samples],
                                   device=imgs.device)
            pick = visible & (torch.rand(len(samples), device=imgs.device) < self.gray_prob)
            if bool(pick.any()):
                imgs = imgs.clone()
                imgs[pick] = _to_grayscale(imgs[pick], self.transform)
        return imgs, samples

    def batch_features(self, imgs, data):
        if not self.routes_modality:
            return self.extract_features(imgs)
        if 'modality' not in data:
            raise ValueError('AGWEngine: test items carry no modality; test on one of our '
                             'datasets (sysu_mm01, regdb, synthetic_infrared).')
        modality = data['modality'].reshape(-1).long().to(imgs.device)
        return self.model(imgs, modality=modality)


#: method name -> engine class, from the :data:`~.registration.METHODS` table.
ENGINES: Dict[str, type] = {e.name: globals()[e.engine] for e in METHODS if e.engine}


def engine_for(method: str) -> type:
    """The engine class of ``method`` (its :data:`~.registration.METHODS` entry)."""
    entry = method_entry(method)
    if entry.engine is None:
        raise KeyError(f'method {method!r} has no torchreid engine (it is a re-ranker: set '
                       f'asym.rerank.type); methods with one: {sorted(ENGINES)}.')
    return ENGINES[method]


_DEPRECATED = {'AsymEngine': ('ReIDEngine', ReIDEngine),
               'CrossModalityIdentitySampler': ('TorchreidCrossModalitySampler (num_instances = '
                                                'K per modality)',
                                                _DeprecatedCrossModalityIdentitySampler)}


def __getattr__(name: str):
    # Deprecated names (one release).
    if name in _DEPRECATED:
        new, obj = _DEPRECATED[name]
        warnings.warn(f'{__name__}.{name} is deprecated; use {new}.', DeprecationWarning,
                      stacklevel=2)
        return obj
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
