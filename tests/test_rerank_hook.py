"""SIMRerankHook on our ReIDMetric and on a foreign codebase's own metric."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from asym_plugins.evaluation import ReIDMetric, compute_distance, evaluate_rank
from asym_plugins.hooks import RerankHook, SIMRerankHook
from asym_plugins.methods.sim import similarity_inference

HERE = osp.dirname(osp.abspath(__file__))


def docs_snippet(first_line):
    """The ```python block of docs/sim.md that starts with ``first_line``."""
    with open(osp.join(osp.dirname(HERE), 'docs', 'sim.md')) as f:
        blocks = [b.split('```')[0] for b in f.read().split('```python\n')[1:]]
    found = [b for b in blocks if b.startswith(first_line)]
    assert len(found) == 1, f'docs/sim.md has no single python block starting {first_line!r}'
    return found[0]


def _cross_modality_features(rng, n_ids=12, per_id=4, dim=16, shift=1.2):
    """Identities as clusters; 'infrared' queries carry a shared modality offset."""
    centers = rng.randn(n_ids, dim)
    offset = rng.randn(dim) * shift
    x, pid, camid, is_query = [], [], [], []
    for p in range(n_ids):
        for k in range(per_id):
            q = k < per_id // 2
            x.append(centers[p] + rng.randn(dim) * 0.6 + (offset if q else 0))
            pid.append(p)
            camid.append(0 if q else 1)
            is_query.append(q)
    return (np.asarray(x, np.float32), np.asarray(pid), np.asarray(camid),
            np.asarray(is_query))


def test_foreign_codebase_config_logs_both(tmp_path):
    sys.path.insert(0, osp.join(HERE, 'foreign_codebase'))
    try:
        x, pid, camid, is_query = _cross_modality_features(np.random.RandomState(0))
        npz = tmp_path / 'feats.npz'
        np.savez(npz, x=x, pid=pid, camid=camid, is_query=is_query)
        cfg = Config.fromfile(osp.join(HERE, 'foreign_codebase/foreign_config.py'))
        cfg.test_dataloader.dataset.npz = str(npz)
        cfg.work_dir = str(tmp_path / 'wd')
        metrics = Runner.from_cfg(cfg).test()

        from foreignreid import ForeignRetrievalMetric
        m = ForeignRetrievalMetric()
        qf, gf = torch.from_numpy(x[is_query]), torch.from_numpy(x[~is_query])
        d_qg, d_gg = m.pairwise_distance(qf, gf), m.pairwise_distance(gf, gf)
        d_sim = similarity_inference(d_qg, d_gg, mode='official', lam=0.1, K=3, k_q=4, k_g=4,
                                     n_graph=6, alpha=0.5)
        g_pids = pid[~is_query]
        ap = [np.mean(np.cumsum(h := (g_pids[np.argsort(d_sim[i], kind='stable')] == p))[h]
                      / (np.flatnonzero(h) + 1)) for i, p in enumerate(pid[is_query])]
        assert metrics['foreign/sim/mAP'] == pytest.approx(100 * np.mean(ap), abs=1e-4)
        assert 'foreign/mAP' in metrics and 'foreign/top1' in metrics
        assert metrics['foreign/sim/mAP'] != metrics['foreign/mAP']
    finally:
        sys.path.remove(osp.join(HERE, 'foreign_codebase'))
        sys.modules.pop('foreignreid', None)


def _reid_results(x, pid, camid, is_query):
    """What ReIDMetric.process keeps of the data samples (run through process itself)."""
    m = ReIDMetric()
    m.process(None, [dict(pred_feature=torch.from_numpy(x[i]), pid=int(pid[i]),
                          camid=int(camid[i]), split='query' if is_query[i] else 'gallery')
                     for i in range(len(pid))])
    return m.results


def test_hook_on_reid_metric_equals_plain_api():
    x, pid, camid, is_query = _cross_modality_features(np.random.RandomState(1))
    metric = ReIDMetric(metric='euclidean')
    SIMRerankHook(lam=0.1, K=3, k_q=4, k_g=4, n_graph=6, alpha=0.5).wrap_metric(metric)
    out = metric.compute_metrics(_reid_results(x, pid, camid, is_query))
    qf, gf = torch.from_numpy(x[is_query]), torch.from_numpy(x[~is_query])
    d = similarity_inference(compute_distance(qf, gf), compute_distance(gf, gf), lam=0.1, K=3,
                             k_q=4, k_g=4, n_graph=6, alpha=0.5)
    cmc, mAP, _ = evaluate_rank(d, pid[is_query], pid[~is_query], camid[is_query],
                                camid[~is_query])
    assert out['sim/mAP'] == pytest.approx(100 * mAP, abs=1e-4)
    assert out['sim/R1'] == pytest.approx(100 * cmc[0], abs=1e-4)
    plain = ReIDMetric().compute_metrics(_reid_results(x, pid, camid, is_query))
    assert out['mAP'] == pytest.approx(plain['mAP'])
    # the metric's method is restored after the extra pass
    assert 'compute_distmat' not in metric.__dict__


def test_stacked_hooks_and_errors():
    x, pid, camid, is_query = _cross_modality_features(np.random.RandomState(2))
    metric = ReIDMetric()
    SIMRerankHook(lam=0.1, K=3, k_q=4, k_g=4, n_graph=6).wrap_metric(metric)
    RerankHook(reranker=dict(type='KReciprocalReranker', k1=4, k2=2), prefix='krr'
               ).wrap_metric(metric)
    out = metric.compute_metrics(_reid_results(x, pid, camid, is_query))
    # flat keys: each hook re-ranks the plain metric once (no 'krr/sim/...' re-ranking of SIM)
    plain = ReIDMetric().compute_metrics(_reid_results(x, pid, camid, is_query))
    assert set(out) == set(plain) | {f'{p}/{k}' for p in ('sim', 'krr') for k in plain}
    alone = ReIDMetric()
    RerankHook(reranker=dict(type='KReciprocalReranker', k1=4, k2=2), prefix='krr'
               ).wrap_metric(alone)
    single = alone.compute_metrics(_reid_results(x, pid, camid, is_query))
    assert out['krr/mAP'] == pytest.approx(single['krr/mAP'], abs=1e-9)
    assert out['krr/mAP'] != out['sim/mAP']

    class NoDistance:
        pass

    class FakeEvaluator:
        metrics = [NoDistance()]

    with pytest.raises(RuntimeError, match='dist_method'):
        SIMRerankHook()._wrap_evaluator(FakeEvaluator())
    with pytest.raises(AttributeError, match='compute_distmat'):
        SIMRerankHook(metrics=['NoDistance'])._wrap_evaluator(FakeEvaluator())


def test_hook_reranks_every_sysu_trial():
    from asym_plugins.evaluation import SYSUMetric
    rng = np.random.RandomState(3)
    centers, offset = rng.randn(10, 16), rng.randn(16) * 1.2
    samples = []
    for p in range(10):
        for cam in range(6):
            ir = cam in (2, 5)
            for _ in range(3):
                f = centers[p] + rng.randn(16) * 0.6 + (offset if ir else 0)
                samples.append(dict(pred_feature=torch.tensor(f, dtype=torch.float32), pid=p,
                                    camid=cam, modality='infrared' if ir else 'visible',
                                    split='query' if ir else 'gallery'))
    sim = dict(lam=0.1, K=3, k_q=4, k_g=4, n_graph=6, alpha=0.5)
    hooked = SYSUMetric(trials=3, shots=1)
    hooked.process(None, samples)
    SIMRerankHook(**sim).wrap_metric(hooked)
    out = hooked.compute_metrics(hooked.results)
    ref = SYSUMetric(trials=3, shots=1, reranker=dict(type='SIMReranker', **sim))
    ref.process(None, samples)
    want = ref.compute_metrics(ref.results)
    assert out['sim/mAP'] == pytest.approx(want['mAP'], abs=1e-6)
    assert out['sim/R1'] == pytest.approx(want['R1'], abs=1e-6)


@pytest.mark.parametrize('mode', ['official', 'equations'])
def test_sim_treats_each_query_on_its_own(mode):
    """What lets the hook re-rank a retriever's scores batch by batch (rerank_sources.py):
    SIM's rows for a subset of queries equal the same rows re-ranked with all queries."""
    x, _, _, is_query = _cross_modality_features(np.random.RandomState(4))
    qf, gf = torch.from_numpy(x[is_query]), torch.from_numpy(x[~is_query])
    d_qg, d_gg = compute_distance(qf, gf), compute_distance(gf, gf)
    sim = dict(mode=mode, lam=0.1, K=3, k_q=4, k_g=4, alpha=0.5)
    whole = torch.as_tensor(similarity_inference(d_qg, d_gg, **sim))
    parts = torch.cat([torch.as_tensor(similarity_inference(d_qg[i:i + 5], d_gg, **sim))
                       for i in range(0, len(qf), 5)])
    torch.testing.assert_close(parts, whole, atol=1e-6, rtol=0)


def test_k_reciprocal_hook_on_foreign_codebase(tmp_path):
    """RerankHook where it applies (a metric with a distance method): k-reciprocal re-ranking
    of the foreign metric equals KReciprocalReranker applied by hand."""
    from asym_plugins.registry import RERANKERS
    sys.path.insert(0, osp.join(HERE, 'foreign_codebase'))
    try:
        x, pid, camid, is_query = _cross_modality_features(np.random.RandomState(5))
        npz = tmp_path / 'feats.npz'
        np.savez(npz, x=x, pid=pid, camid=camid, is_query=is_query)
        cfg = Config.fromfile(osp.join(HERE, 'foreign_codebase/foreign_config.py'))
        cfg.custom_hooks = [dict(type='asym.RerankHook', dist_method='pairwise_distance',
                                 reranker=dict(type='KReciprocalReranker', k1=4, k2=2))]
        cfg.test_dataloader.dataset.npz = str(npz)
        cfg.work_dir = str(tmp_path / 'wd')
        metrics = Runner.from_cfg(cfg).test()

        from foreignreid import ForeignRetrievalMetric, average_precision
        m = ForeignRetrievalMetric()
        qf, gf = torch.from_numpy(x[is_query]), torch.from_numpy(x[~is_query])
        krr = RERANKERS.build(dict(type='KReciprocalReranker', k1=4, k2=2))
        d = np.asarray(krr(torch.as_tensor(m.pairwise_distance(qf, gf)),
                           torch.as_tensor(m.pairwise_distance(gf, gf)),
                           torch.as_tensor(m.pairwise_distance(qf, qf))))
        g_pids = pid[~is_query]
        ap = [average_precision(d[i], g_pids == p) for i, p in enumerate(pid[is_query])]
        assert metrics['foreign/rerank/mAP'] == pytest.approx(100 * np.mean(ap), abs=1e-4)
        assert metrics['foreign/rerank/mAP'] != metrics['foreign/mAP']
    finally:
        sys.path.remove(osp.join(HERE, 'foreign_codebase'))
        sys.modules.pop('foreignreid', None)


def test_docs_config_of_this_package_wraps_its_metric(tmp_path):
    """docs/sim.md's kind-1 config: the base's hooks kept, the SIM hook added and reaching the
    base's ReIDMetric."""
    from mmengine.evaluator import Evaluator

    from asym_plugins.registry import HOOKS, METRICS
    text = docs_snippet('# configs/baseline/synthetic_sim.py')
    base = osp.join(osp.dirname(HERE), 'configs', 'baseline', 'synthetic.py')
    (tmp_path / 'synthetic_sim.py').write_text(text.replace("'./synthetic.py'", repr(base)))
    cfg = Config.fromfile(str(tmp_path / 'synthetic_sim.py'))
    assert [h['type'] for h in cfg.custom_hooks] == ['PortableCheckpointHook',
                                                     'asym.SIMRerankHook']
    hook = HOOKS.build(dict(cfg.custom_hooks[1], type='SIMRerankHook'))
    evaluator = Evaluator(METRICS.build(cfg.test_evaluator))
    assert isinstance(evaluator.metrics[0], ReIDMetric)
    hook._wrap_evaluator(evaluator)
    assert 'sim' in evaluator.metrics[0].__dict__['_asym_rerank_prefixes']


def test_similarity_method_is_reranked_as_normalised_euclidean():
    """A kind-2 metric whose method returns cosine similarities (``similarity=True``): the
    re-ranked ranking is SIM on sqrt(2 - 2 cos) (computed by hand), returned larger = closer;
    similarities that cannot be cosines are refused with the method named."""
    from mmengine.evaluator import BaseMetric

    from asym_plugins.hooks.rerank_hook import SIMRerankHook
    from asym_plugins.methods.sim import similarity_inference

    class CosineMetric(BaseMetric):
        def __init__(self, scale=1.0):
            super().__init__()
            self.scale = scale

        def process(self, data_batch, data_samples):
            pass

        def cos(self, q, g):
            qn = torch.nn.functional.normalize(torch.as_tensor(q), dim=1)
            gn = torch.nn.functional.normalize(torch.as_tensor(g), dim=1)
            return self.scale * qn @ gn.t()

        def compute_metrics(self, results):
            q, g = results
            return dict(order=torch.argsort(-self.cos(q, g), dim=1, stable=True).tolist())

    g = torch.Generator().manual_seed(0)
    qf, gf = torch.randn(6, 8, generator=g), torch.randn(30, 8, generator=g)
    hook = SIMRerankHook(dist_method='cos', similarity=True, K=3, k_q=4, k_g=4)
    metric = CosineMetric()
    hook.wrap_metric(metric)
    out = metric.compute_metrics((qf, gf))
    qn, gn = (torch.nn.functional.normalize(x, dim=1) for x in (qf, gf))
    d_qg = torch.cdist(qn, gn).double()
    d_gg = torch.cdist(gn, gn).double()
    by_hand = similarity_inference(d_qg, d_gg, K=3, k_q=4, k_g=4)
    assert out['order'] == torch.argsort(qn @ gn.t(), dim=1, descending=True,
                                         stable=True).tolist()
    assert out['sim/order'] == torch.argsort(torch.as_tensor(by_hand), dim=1,
                                             stable=True).tolist()
    assert out['sim/order'] != out['order']
    bad = CosineMetric(scale=5.0)
    SIMRerankHook(dist_method='cos', similarity=True).wrap_metric(bad)
    with pytest.raises(ValueError, match=r'CosineMetric.cos returned similarities'):
        bad.compute_metrics((qf, gf))
