"""Streaming SIM from features (docs/sim.md, "Large galleries") against the dense path.

The reference is what a user computes densely from the same features: ``compute_distance`` of
the L2-normalised features, :func:`similarity_inference` on the two matrices, ``evaluate_rank``
of the result and a stable sort for the top-k. The streaming path must give the same re-ranked
distances (max |diff| <= 1e-5 in float32), the same metrics and the same top-k lists, for every
chunk size, across 2 gloo ranks, and when the gallery side has to recompute weights beyond its
cache.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from asym_plugins.evaluation import compute_distance, evaluate_rank, l2_normalize
from asym_plugins.methods.sim import similarity_inference, similarity_inference_features, streaming
from asym_plugins.methods.sim.streaming import parse_memory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _world(n_ids, q_per, g_per, dim=64, noise=0.9, seed=0, dtype=torch.float32):
    """Clustered features: one centre per identity, queries on camera 0, gallery on 1/2."""
    g = torch.Generator().manual_seed(seed)
    cent = torch.randn(n_ids, dim, generator=g, dtype=torch.float64)
    qf = cent.repeat_interleave(q_per, 0) + noise * torch.randn(n_ids * q_per, dim, generator=g,
                                                                dtype=torch.float64)
    gf = cent.repeat_interleave(g_per, 0) + noise * torch.randn(n_ids * g_per, dim, generator=g,
                                                                dtype=torch.float64)
    qp, gp = np.repeat(np.arange(n_ids), q_per), np.repeat(np.arange(n_ids), g_per)
    qc = np.zeros(len(qp), dtype=np.int64)
    gc = 1 + (np.arange(len(gp)) % 2)
    gc[:g_per] = 0  # identity 0's gallery shares the query camera: the market rule drops it
    return qf.to(dtype), gf.to(dtype), qp, gp, qc, gc


def _dense(qf, gf, ids, mode, topk, **kw):
    qn, gn = l2_normalize(qf), l2_normalize(gf)
    d = similarity_inference(compute_distance(qn, gn), compute_distance(gn, gn), mode=mode, **kw)
    order = torch.sort(d, dim=1, stable=True).indices[:, :topk]
    return d, evaluate_rank(d, *ids), order


def _assert_same(res, ref, tol=1e-5):
    """``tol=0``: bit-identical (official mode runs the dense path's own kernels on the same
    numbers); equations mode adds its K smallest values in another order (last-bit)."""
    d, metrics, order = ref
    diff = (torch.as_tensor(res.distances) - d).abs().max().item()
    assert diff <= tol, diff
    assert np.array_equal(res.metrics.cmc, metrics.cmc)
    assert res.metrics.mAP == metrics.mAP and res.metrics.mINP == metrics.mINP
    assert res.metrics.num_valid == metrics.num_valid
    assert res.metrics.num_skipped == metrics.num_skipped > 0  # identity 0: no valid match
    assert np.array_equal(res.topk_index, order.numpy())
    np.testing.assert_allclose(res.topk_distance, torch.gather(d, 1, order).numpy(), rtol=0,
                               atol=tol)


CASES = [
    ('official', {}),
    ('official', dict(preset='regdb')),
    ('official', dict(graph_update='parallel')),
    ('official', dict(input_dtype='float16')),
    ('official', dict(components='graph')),
    ('official', dict(components='mutual', alpha=0.0)),
    ('official', dict(ties='stable', k_g=4, K=3)),
    ('equations', {}),
    ('equations', dict(prune_T=25, expand=True)),
    ('equations', dict(components='graph', lam=0.5)),
]


@pytest.mark.parametrize('mode,kw', CASES)
def test_stream_equals_dense_every_chunk(mode, kw):
    qf, gf, *ids = _world(30, 3, 7)
    ref = _dense(qf, gf, ids, mode, 10, **kw)
    assert not bool((torch.as_tensor(ref[0]) == ref[0][:, :1]).all())  # not a trivial output
    for chunk in (1, 7, 90):  # one query, a chunk not dividing Nq = 90, everything at once
        res = similarity_inference_features(qf, gf, mode, q_pids=ids[0], g_pids=ids[1],
                                            q_camids=ids[2], g_camids=ids[3], topk=10,
                                            chunk_queries=chunk, return_distances=True, **kw)
        assert res.num_chunks == -(-90 // chunk)
        _assert_same(res, ref, tol=0.0 if mode == 'official' else 1e-5)


def test_stream_float64_features_give_the_dense_float64_result():
    qf, gf, *ids = _world(12, 2, 6, dtype=torch.float64)
    ref = _dense(qf, gf, ids, 'official', 5)
    res = similarity_inference_features(qf, gf, q_pids=ids[0], g_pids=ids[1], q_camids=ids[2],
                                        g_camids=ids[3], topk=5, chunk_queries=5,
                                        return_distances=True)
    assert res.distances.dtype == np.float64
    _assert_same(res, ref, tol=1e-12)


def test_stream_weights_beyond_the_cache_are_recomputed(monkeypatch):
    """Expanded reciprocal sets reach items outside each row's cached nearest distances: with a
    cache of only k_g + 1 entries most weights come from the recomputation, same result."""
    monkeypatch.setattr(streaming, '_CACHE_FACTOR', 1)
    qf, gf, *ids = _world(20, 2, 10, noise=1.3, seed=3)
    ref = _dense(qf, gf, ids, 'official', 5, k_g=8)
    seen = {}
    orig = streaming._Distance.pick

    def pick(self, X, idx, Y):
        seen['rows'] = seen.get('rows', 0) + idx.numel()
        return orig(self, X, idx, Y)

    monkeypatch.setattr(streaming._Distance, 'pick', pick)
    res = similarity_inference_features(qf, gf, q_pids=ids[0], g_pids=ids[1], q_camids=ids[2],
                                        g_camids=ids[3], topk=5, chunk_queries=13, k_g=8,
                                        return_distances=True)
    assert seen.get('rows', 0) > 0  # the recomputation really ran
    _assert_same(res, ref, tol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize('layout,preset', [((206, 10, 10), 'regdb'), ((96, 4, 30), 'sysu_mm01')])
def test_stream_equals_dense_regdb_and_sysu_sizes(layout, preset):
    """RegDB scale (2060 x 2060, its preset) and a SYSU-like layout (384 x 2880, 30 gallery
    images per identity), chunks that do not divide the queries."""
    n_ids, q_per, g_per = layout
    qf, gf, *ids = _world(n_ids, q_per, g_per, dim=128, noise=1.1, seed=1)
    ref = _dense(qf, gf, ids, 'official', 20, preset=preset)
    res = similarity_inference_features(qf, gf, q_pids=ids[0], g_pids=ids[1], q_camids=ids[2],
                                        g_camids=ids[3], topk=20, preset=preset,
                                        chunk_queries=333, return_distances=True)
    _assert_same(res, ref)


def test_stream_memory_budget_sets_the_chunk_and_a_tiny_one_is_refused():
    qf, gf, *ids = _world(10, 2, 5)
    res = similarity_inference_features(qf, gf, memory_budget='1GB')
    assert res.chunk_queries == 20 and res.metrics is None and res.topk_index is None
    with pytest.raises(ValueError, match='memory_budget .* too small: one query row'):
        similarity_inference_features(qf, gf, memory_budget='1MB')
    with pytest.raises(ValueError, match="memory_budget must be a size such as '4GB'"):
        similarity_inference_features(qf, gf, memory_budget='lots')
    with pytest.raises(ValueError, match='give all of q_pids'):
        similarity_inference_features(qf, gf, q_pids=ids[0])
    with pytest.raises(ValueError, match='different feature dims: 64 vs 8'):
        similarity_inference_features(qf, gf[:, :8])
    bad = gf.clone()
    bad[3, 0] = float('nan')
    with pytest.raises(ValueError, match=r'gallery_feats has 1 row\(s\) with NaN'):
        similarity_inference_features(qf, bad)


def test_parse_memory_units():
    assert parse_memory('4GB') == 4 << 30
    assert parse_memory('512 MiB') == 512 << 20
    assert parse_memory('1.5g') == 3 << 29
    assert parse_memory(1000) == 1000
    with pytest.raises(ValueError):
        parse_memory(0)


_WORKER = textwrap.dedent(r"""
    import json, sys
    import numpy as np
    import torch
    import torch.distributed as dist
    sys.path.insert(0, sys.argv[4] + '/tests')
    from test_sim_streaming import RUNS, _world
    from asym_plugins.methods.sim import similarity_inference_features, streaming
    init, out, rank = sys.argv[1], sys.argv[2], int(sys.argv[3])
    dist.init_process_group('gloo', init_method='file://' + init, rank=rank, world_size=2)
    seen = dict(rows=[], faiss=[])  # gallery rows this rank computed (whole rows / faiss)
    whole, from_faiss = streaming._gallery_rows, streaming._faiss_rows

    def spy(G, D, rows, *a):
        seen['rows'] += rows.tolist()
        return whole(G, D, rows, *a)

    def spy_faiss(G, gf, d, index, r0, r1, *a):
        seen['faiss'] += list(range(r0, r1))
        return from_faiss(G, gf, d, index, r0, r1, *a)

    streaming._gallery_rows, streaming._faiss_rows = spy, spy_faiss
    qf, gf, qp, gp, qc, gc = _world(25, 3, 6)
    res = []
    for mode, kw in RUNS:
        seen['rows'], seen['faiss'] = [], []
        r = similarity_inference_features(qf, gf, mode, q_pids=qp, g_pids=gp, q_camids=qc,
                                          g_camids=gc, topk=8, chunk_queries=4, **kw)
        res.append(dict(cmc=r.metrics.cmc.tolist(), mAP=r.metrics.mAP, mINP=r.metrics.mINP,
                        valid=r.metrics.num_valid, topk=r.topk_index.tolist(),
                        chunks=r.num_chunks, rows=sorted(set(seen['rows'])),
                        faiss=seen['faiss']))
    json.dump(res, open(out, 'w'))
    dist.destroy_process_group()
""")


RUNS = [('official', {}), ('equations', {}),
        ('official', dict(neighbours='faiss', k_g=6, n_graph=8, K=4)),
        ('official', dict(neighbours='faiss-approx', k_g=6, n_graph=8, K=4)),
        ('official', dict(neighbours='bf16-approx', k_g=6, n_graph=8, K=4))]


@pytest.mark.slow
def test_two_gloo_ranks_give_one_rank_metrics(tmp_path):
    """2 gloo ranks: each builds half of the gallery rows (whole rows or faiss candidates;
    the HNSW graph is built by rank 0 and sent), each takes half of the queries; every rank
    returns the metrics and top-k lists of one process."""
    script = tmp_path / 'worker.py'
    script.write_text(_WORKER)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONPATH=ROOT)
    for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        env.pop(k, None)
    outs = [tmp_path / f'out{r}.json' for r in range(2)]
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / 'init'), str(outs[r]),
                               str(r), ROOT], env=env, cwd=ROOT, stderr=subprocess.PIPE,
                              text=True) for r in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    got = [json.loads(o.read_text()) for o in outs]
    qf, gf, *ids = _world(25, 3, 6)
    for m, (mode, kw) in enumerate(RUNS):
        one = similarity_inference_features(qf, gf, mode, q_pids=ids[0], g_pids=ids[1],
                                            q_camids=ids[2], g_camids=ids[3], topk=8,
                                            chunk_queries=4, **kw)
        for r in range(2):
            g = got[r][m]
            assert g['chunks'] == 10  # 37 / 38 of the 75 queries, 4 per chunk
            half = list(range(75 * r, 75 * (r + 1)))  # this rank's 75 of the 150 gallery rows
            if 'neighbours' in kw:
                assert g['faiss'] == half and set(g['rows']) <= set(half)
            else:
                assert g['rows'] == half and g['faiss'] == []
        if kw.get('neighbours') == 'faiss-approx':
            # both ranks use rank 0's HNSW graph; one built here with several threads may
            # link differently (faiss inserts in parallel), so compare the ranks' results
            assert got[0][m] == {**got[1][m], 'rows': got[0][m]['rows'],
                                 'faiss': got[0][m]['faiss']}
            assert abs(got[0][m]['mAP'] - one.metrics.mAP) <= 0.005
            continue
        for r in range(2):
            g = got[r][m]
            assert np.array_equal(np.asarray(g['cmc'], dtype=np.float32), one.metrics.cmc)
            assert g['mAP'] == one.metrics.mAP and g['mINP'] == one.metrics.mINP
            assert g['valid'] == one.metrics.num_valid
            assert np.array_equal(np.asarray(g['topk']), one.topk_index)


def test_rerank_tool_stream_prints_the_dense_numbers_and_writes_the_ranking(tmp_path, capsys):
    """``tools/rerank.py --stream`` gives the same before/after as the dense tool run, and
    ``--out`` holds the stable top-k of the dense re-ranked matrix."""
    sys.path.insert(0, os.path.join(ROOT, 'tools'))
    import rerank
    qf, gf, qp, gp, qc, gc = _world(20, 2, 6)
    path = tmp_path / 'feats.npz'
    np.savez(path, qf=qf.numpy(), gf=gf.numpy(), q_pids=qp, g_pids=gp, q_camids=qc,
             g_camids=gc)
    dense = rerank.main([str(path), '--preset', 'regdb'])
    out = tmp_path / 'rank.npz'
    streamed = rerank.main([str(path), '--preset', 'regdb', '--stream', '--memory-budget',
                            '1GB', '--topk', '7', '--out', str(out), '--json',
                            str(tmp_path / 'r.json')])
    assert streamed['before'] == dense['before'] and streamed['after'] == dense['after']
    assert streamed['stream']['num_chunks'] == 1
    ref = _dense(qf, gf, (qp, gp, qc, gc), 'official', 7, preset='regdb')
    saved = np.load(out)
    assert np.array_equal(saved['topk_index'], ref[2].numpy())
    assert np.array_equal(saved['q_pids'], qp)
    assert 'streamed: 1 chunks of 40 queries' in capsys.readouterr().out
    from asym_plugins.engine.cli import ConfigError
    with pytest.raises(ConfigError, match='--memory-budget'):
        rerank.main([str(path), '--stream', '--memory-budget', 'much'])
    with pytest.raises(ConfigError, match='add --stream'):
        rerank.main([str(path), '--out', str(out)])


def _reid_results(qf, gf, qp, gp, qc, gc):
    from asym_plugins.evaluation import ReIDMetric
    m = ReIDMetric()
    samples = [dict(pred_feature=f, pid=int(p), camid=int(c), split='query')
               for f, p, c in zip(qf, qp, qc)]
    samples += [dict(pred_feature=f, pid=int(p), camid=int(c), split='gallery')
                for f, p, c in zip(gf, gp, gc)]
    m.process(None, samples)
    return m.results


def test_hooks_stream_a_gallery_beyond_the_budget(monkeypatch):
    """SIMRerankHook when the dense gallery-gallery matrix exceeds its budget: our ReIDMetric
    (kind 1) and a foreign metric's compute_distmat (kind 2) are re-ranked streamed from the
    gallery features, with the dense hook's numbers; no dense D_gg is ever requested."""
    # a 210-image gallery "does not fit" (the real rule: 2 Ng^2 x 4 bytes > memory_budget)
    assert streaming.BudgetedReranker(None, '1GB').too_big(11586)
    assert not streaming.BudgetedReranker(None, '1GB').too_big(11585)
    monkeypatch.setattr(streaming.BudgetedReranker, 'too_big', lambda self, ng, dtype: True)
    from mmengine.evaluator import BaseMetric

    from asym_plugins.evaluation import ReIDMetric
    from asym_plugins.hooks import SIMRerankHook
    qf, gf, qp, gp, qc, gc = _world(30, 2, 7, dim=32)
    results = _reid_results(qf, gf, qp, gp, qc, gc)
    hp = dict(preset='regdb', k_g=6)
    budget = '1GB'
    outs = []
    for mb in (None, budget):
        metric = ReIDMetric(metric='euclidean')
        calls = []
        own = metric.compute_distmat

        def spy(a, b, own=own, calls=calls):
            calls.append(a is b)  # the dense path asks for D_gg as (g, g)
            return own(a, b)

        metric.compute_distmat = spy
        hook = SIMRerankHook(memory_budget=mb, **hp)
        hook.wrap_metric(metric)
        outs.append(metric.compute_metrics(results))
        assert any(calls) == (mb is None)  # streamed: only row tiles of D_gg were computed
        assert metric.compute_distmat is spy  # restored after the pass
    assert outs[0] == outs[1]
    assert outs[1]['sim/mAP'] != outs[1]['mAP']

    class Foreign(BaseMetric):  # kind 2: a codebase's own metric computing distances
        def process(self, data_batch, data_samples):
            pass

        def compute_distmat(self, a, b):
            return compute_distance(torch.as_tensor(a), torch.as_tensor(b))

        def compute_metrics(self, results):
            d = self.compute_distmat(qf, gf)
            cmc, mAP, _ = evaluate_rank(d, qp, gp, qc, gc)
            return dict(R1=100 * float(cmc[0]), mAP=100 * mAP)

    got = []
    for mb in (None, budget):
        metric = Foreign()
        SIMRerankHook(memory_budget=mb, **hp).wrap_metric(metric)
        got.append(metric.compute_metrics(None))
    d = similarity_inference(compute_distance(qf, gf), compute_distance(gf, gf), **hp)
    cmc, mAP, _ = evaluate_rank(d, qp, gp, qc, gc)
    assert got[0] == got[1]
    assert got[1]['sim/mAP'] == 100 * mAP and got[1]['sim/R1'] == 100 * float(cmc[0])


def test_hook_streams_a_model_gallery_beyond_the_budget(monkeypatch):
    """Kind 3 (a retriever scoring queries against the gallery it holds) when the dense
    gallery-gallery matrices exceed the budget: each chunk of queued queries is re-ranked by the
    streaming SIM from the model's gallery features, the gallery structure is built once for
    both chunks, and the logged values equal the dense hook's."""
    from conftest import require
    require('mmpretrain')
    from test_rerank_hook_mmpretrain import SIM, _clustered_retriever, _retriever_loop

    from asym_plugins.hooks import SIMRerankHook
    if not hasattr(np, 'in1d'):  # mmpretrain 1.2.0's metrics call np.in1d (NumPy 2.4: np.isin)
        monkeypatch.setattr(np, 'in1d', np.isin, raising=False)
    model, _, queries, labels = _clustered_retriever()
    monkeypatch.setattr(streaming.BudgetedReranker, 'too_big', lambda self, ng, dtype: True)
    calls = {'stream': 0, 'gallery': 0}
    stream, build = streaming.similarity_inference_features, streaming._build_gallery

    def spy_stream(*a, **k):
        calls['stream'] += 1
        return stream(*a, **k)

    def spy_build(*a, **k):
        calls['gallery'] += 1
        return build(*a, **k)

    monkeypatch.setattr(streaming, 'similarity_inference_features', spy_stream)
    monkeypatch.setattr(streaming, '_build_gallery', spy_build)
    from mmpretrain.evaluation import RetrievalAveragePrecision, RetrievalRecall
    outs = []
    for mb in (None, '1GB'):
        hooks = [SIMRerankHook(query_chunk=7, memory_budget=mb, **SIM)]  # chunks of 10 and 2
        outs.append(_retriever_loop(hooks, model, queries, labels, 5,
                                    [RetrievalRecall(topk=(1, 2)),
                                     RetrievalAveragePrecision(topk=5)]))
        assert calls == ({'stream': 0, 'gallery': 0} if mb is None
                         else {'stream': 2, 'gallery': 1})
    assert outs[0].keys() == outs[1].keys()
    for k in outs[0]:
        assert outs[1][k] == pytest.approx(outs[0][k], abs=1e-6), k
    assert outs[1]['retrieval/sim/mAP@5'] != pytest.approx(outs[1]['retrieval/mAP@5'],
                                                           abs=1e-3)
