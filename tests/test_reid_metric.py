"""ReIDMetric end to end with fake data samples: process + compute_metrics, re-ranker, errors."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator

from asym_plugins.evaluation import BaseReranker, ReIDMetric
from asym_plugins.registry import METRICS, RERANKERS
from asym_plugins.structures import ReIDDataSample


def reference_metrics(qf, gf, qp, gp, qc, gc):
    """Euclidean distances + per-query loop with the market rule, in percent."""
    cmcs, aps, inps = [], [], []
    for i in range(len(qf)):
        dist = np.sqrt(((gf.astype(np.float64) - qf[i].astype(np.float64)) ** 2).sum(1))
        order = np.argsort(dist, kind='stable')
        kept = [j for j in order if not (gp[j] == qp[i] and gc[j] == qc[i])]
        positions = [r for r, j in enumerate(kept) if gp[j] == qp[i]]
        if not positions:
            continue
        cmcs.append([1.0 if r >= positions[0] else 0.0 for r in range(10)])
        aps.append(sum((k + 1) / (p + 1) for k, p in enumerate(positions)) / len(positions))
        inps.append(len(positions) / (positions[-1] + 1))
    cmc = np.mean(cmcs, axis=0)
    return {'R1': 100 * cmc[0], 'R5': 100 * cmc[4], 'R10': 100 * cmc[9],
            'mAP': 100 * np.mean(aps), 'mINP': 100 * np.mean(inps)}


def make_world(seed=0, nq=12, ng=40, n_ids=6, dim=8):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim))
    qp, gp = rng.integers(0, n_ids, nq), rng.integers(0, n_ids, ng)
    qc, gc = rng.integers(0, 3, nq), rng.integers(0, 3, ng)
    qf = (centres[qp] + rng.normal(size=(nq, dim))).astype(np.float32)
    gf = (centres[gp] + rng.normal(size=(ng, dim))).astype(np.float32)
    return qf, gf, qp, gp, qc, gc


def to_samples(qf, gf, qp, gp, qc, gc):
    """What MMEngine's Evaluator hands to process(): ReIDDataSample.to_dict(), query first."""
    out = []
    for split, feats, pids, cams in (('query', qf, qp, qc), ('gallery', gf, gp, gc)):
        for f, p, c in zip(feats, pids, cams):
            s = ReIDDataSample(metainfo=dict(pid=int(p), camid=int(c), split=split,
                                             modality='visible', img_path=f'{split}/{p}.jpg'))
            s.pred_feature = torch.from_numpy(f)
            out.append(s.to_dict())
    return out


def run_metric(metric, samples, batch=5):
    for i in range(0, len(samples), batch):
        metric.process(None, samples[i:i + batch])
    return metric.evaluate(len(samples))


def test_end_to_end_vs_reference():
    world = make_world()
    metric = METRICS.build(dict(type='ReIDMetric'))
    out = run_metric(metric, to_samples(*world))
    assert set(out) == {'R1', 'R5', 'R10', 'mAP', 'mINP'}
    assert out == pytest.approx(reference_metrics(*world), abs=1e-4)
    assert metric.results == []  # cleared by BaseMetric.evaluate
    assert metric.features['q_feats'].shape == (12, 8)
    again = metric.evaluate_features(**metric.features)
    assert again == pytest.approx(out)


def test_mmengine_evaluator_with_data_elements():
    """The Evaluator converts BaseDataElements with to_dict() before calling process()."""
    world = make_world(1)
    samples = []
    for d in to_samples(*world):
        s = ReIDDataSample(metainfo={k: d[k] for k in ('pid', 'camid', 'split')})
        s.pred_feature = d['pred_feature']
        samples.append(s)
    evaluator = Evaluator(ReIDMetric(prefix='reid'))
    evaluator.process(data_samples=samples, data_batch=None)
    out = evaluator.evaluate(len(samples))
    ref = reference_metrics(*world)
    assert out['reid/mAP'] == pytest.approx(ref['mAP'], abs=1e-4)


def test_results_are_picklable_plain_cpu_data():
    """collect_results (DDP, collect_device='cpu') pickles self.results."""
    metric = ReIDMetric()
    metric.process(None, to_samples(*make_world(2, nq=3, ng=4)))
    item = pickle.loads(pickle.dumps(metric.results))[0]
    assert set(item) == {'feature', 'pid', 'camid', 'split', 'img_path', 'modality'}
    assert isinstance(item['img_path'], str) and item['modality'] == 'visible'
    assert item['feature'].device.type == 'cpu' and isinstance(item['pid'], int)


def test_normalize_cosine_and_compute_distmat_override():
    world = make_world(3)
    a = run_metric(ReIDMetric(metric='cosine'), to_samples(*world))
    b = run_metric(ReIDMetric(metric='euclidean', normalize_feature=True), to_samples(*world))
    assert a == pytest.approx(b, abs=1e-4)  # same ranking on unit vectors

    class Reversed(ReIDMetric):
        def compute_distmat(self, qf, gf):
            return -super().compute_distmat(qf, gf)

    c = run_metric(Reversed(), to_samples(*world))
    assert c['mAP'] < run_metric(ReIDMetric(), to_samples(*world))['mAP']


def test_reranker_from_registry_gets_only_the_matrices_it_needs():
    calls = []

    @RERANKERS.register_module(force=True)
    class _RecordingReranker(BaseReranker):
        needs_gg = False
        needs_qq = True

        def __call__(self, dist_qg, dist_gg=None, dist_qq=None):
            calls.append((dist_gg, None if dist_qq is None else tuple(dist_qq.shape)))
            return -dist_qg

    world = make_world(4)
    metric = ReIDMetric(reranker=dict(type='_RecordingReranker'))
    out = run_metric(metric, to_samples(*world))
    assert calls == [(None, (12, 12))]
    plain = metric.evaluate_features(**metric.features, reranker=False)
    assert plain == pytest.approx(reference_metrics(*world), abs=1e-4)
    assert out['mAP'] < plain['mAP']
    gg_shapes = []
    metric.evaluate_features(**metric.features,
                             reranker=lambda qg, gg, qq=None: gg_shapes.append(gg.shape) or qg)
    assert gg_shapes == [(40, 40)]  # a plain callable: needs_gg defaults to True


def test_save_features_atomic(tmp_path):
    path = tmp_path / 'out' / 'feats.npz'
    world = make_world(5)
    run_metric(ReIDMetric(save_features=str(path)), to_samples(*world))
    with np.load(path) as z:  # no pickle needed: paths are a plain unicode array
        assert set(z.files) == {'qf', 'gf', 'q_pids', 'g_pids', 'q_camids', 'g_camids',
                                'q_img_paths', 'g_img_paths', 'q_modalities', 'g_modalities',
                                'metric', 'normalize_feature', 'metric_class'}
        # the distance settings the numbers were computed with (tools/rerank.py reuses them)
        assert (str(z['metric']), bool(z['normalize_feature']), str(z['metric_class'])) == \
            ('euclidean', False, 'ReIDMetric')
        assert set(z['q_modalities'].tolist()) == {'visible'}
        np.testing.assert_array_equal(z['qf'], world[0])
        np.testing.assert_array_equal(z['g_camids'], world[5])
        assert z['q_img_paths'].tolist() == [f'query/{p}.jpg' for p in world[2]]
        assert z['g_img_paths'].tolist() == [f'gallery/{p}.jpg' for p in world[3]]
    assert os.listdir(path.parent) == ['feats.npz']  # no temporary file left


def test_save_features_without_img_paths_keeps_the_old_keys(tmp_path):
    path = tmp_path / 'feats.npz'
    samples = to_samples(*make_world(5))
    for s in samples:
        s.pop('img_path')
        s.pop('modality')
    run_metric(ReIDMetric(save_features=str(path)), samples)
    with np.load(path) as z:
        assert set(z.files) == {'qf', 'gf', 'q_pids', 'g_pids', 'q_camids', 'g_camids',
                                'metric', 'normalize_feature', 'metric_class'}


def test_errors():
    world = make_world(6)
    samples = to_samples(*world)
    only_gallery = [s for s in samples if s['split'] == 'gallery']
    metric = ReIDMetric()
    metric.process(None, only_gallery)
    with pytest.raises(ValueError, match='query split is empty.*both splits'):
        metric.evaluate(len(only_gallery))
    no_feature = [{k: v for k, v in samples[0].items() if k != 'pred_feature'}]
    with pytest.raises(KeyError, match='pred_feature'):
        ReIDMetric().process(None, no_feature)
    with pytest.raises(ValueError, match='metric'):
        ReIDMetric(metric='hamming')
