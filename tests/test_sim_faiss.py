"""Streaming SIM with faiss neighbours (docs/sim.md, "Large galleries") against the dense path.

``neighbours='faiss'`` lets faiss' exact indexes propose each gallery row's candidates; the
streaming path recomputes their distances and must give what the dense path gives from the
whole matrices: the same metrics and top-k lists, max |diff| <= 1e-5 on the re-ranked distances
(bit-identical here). Rows faiss cannot settle (ties under the numpy rule, candidates it cannot
certify) go back to their whole ``D_gg`` row: the spy on ``_gallery_rows`` counts them, so a
test fails if the faiss path silently did all the work the tiled way. ``'faiss-approx'`` (HNSW)
must stay within 0.5 mAP points of the exact result on a clustered set.
"""
import sys

import numpy as np
import pytest
import torch
from test_sim_streaming import _world

from asym_plugins.evaluation import compute_distance, evaluate_rank, l2_normalize
from asym_plugins.methods.sim import similarity_inference, similarity_inference_features, streaming
from asym_plugins.methods.sim.faiss_index import FaissNeighbours


def _dense(qf, gf, ids, mode, topk, metric='euclidean', normalize=True, **kw):
    if normalize:
        qf, gf = l2_normalize(qf), l2_normalize(gf)
    dqg, dgg = compute_distance(qf, gf, metric), compute_distance(gf, gf, metric)
    d = similarity_inference(dqg, dgg, mode=mode, **kw)
    order = torch.sort(d, dim=1, stable=True).indices[:, :topk]
    return d, evaluate_rank(d, *ids), order


@pytest.fixture
def full_rows(monkeypatch):
    """Counts gallery rows computed from their whole D_gg row (tiles or faiss fall-backs)."""
    seen = {'rows': 0}
    orig = streaming._gallery_rows

    def spy(G, D, rows, *args):
        seen['rows'] += len(rows)
        return orig(G, D, rows, *args)

    monkeypatch.setattr(streaming, '_gallery_rows', spy)
    return seen


def _run(qf, gf, ids, mode, **kw):
    return similarity_inference_features(qf, gf, mode, q_pids=ids[0], g_pids=ids[1],
                                         q_camids=ids[2], g_camids=ids[3], topk=10,
                                         return_distances=True, chunk_queries=50, **kw)


def _assert_same(res, ref, tol=1e-5):
    d, metrics, order = ref
    assert np.abs(res.distances - d.numpy()).max() <= tol
    assert np.array_equal(res.metrics.cmc, metrics.cmc)
    assert res.metrics.mAP == metrics.mAP and res.metrics.mINP == metrics.mINP
    assert np.array_equal(res.topk_index, order.numpy())


SMALL = dict(k_g=6, n_graph=8, K=4)  # lists well below the 320-image gallery
CASES = [
    ('official', dict(SMALL)),
    ('official', dict(SMALL, preset='regdb')),
    ('official', dict(SMALL, input_dtype='float16')),
    ('official', dict(SMALL, components='graph')),
    ('official', dict(SMALL, components='mutual', alpha=0.0)),
    ('official', dict(SMALL, ties='stable', graph_update='parallel')),
    ('official', dict(SMALL, metric='cosine')),
    ('official', dict(SMALL, metric='sqeuclidean', normalize=False)),
    ('official', dict(SMALL, normalize=False)),
    ('equations', dict(k_g=6, K=4)),
    ('equations', dict(k_g=6, K=4, prune_T=25, expand=True)),
]


@pytest.mark.parametrize('mode,kw', CASES)
def test_faiss_exact_equals_dense(mode, kw, full_rows):
    qf, gf, *ids = _world(40, 3, 8, dim=48)
    if kw.get('normalize') is False:  # different norms: the farthest item needs [y, |y|^2]
        gf = gf * (0.5 + torch.rand(len(gf), 1, generator=torch.Generator().manual_seed(1)))
    ref = _dense(qf, gf, ids, mode, 10, **kw)
    res = _run(qf, gf, ids, mode, neighbours='faiss', **kw)
    _assert_same(res, ref)
    # float16 values tie often: those rows follow numpy's order of the whole row
    assert full_rows['rows'] <= (40 if kw.get('input_dtype') else 0)


def test_faiss_ties_and_uncertified_rows_fall_back_to_whole_rows(monkeypatch, full_rows):
    """Duplicated gallery images tie exactly (numpy's order across list boundaries), and with
    a rounding bound as large as the distances no candidate list can be certified: both go to
    whole D_gg rows, the result stays the dense one."""
    qf, gf, *ids = _world(40, 3, 8, dim=48)
    gf[1::8] = gf[0::8]  # every identity's 2nd gallery image = its 1st
    ref = _dense(qf, gf, ids, 'official', 10, **SMALL)
    _assert_same(_run(qf, gf, ids, 'official', neighbours='faiss', **SMALL), ref, tol=0)
    tied = full_rows['rows']
    assert 0 < tied < 320
    full_rows['rows'] = 0
    monkeypatch.setattr(FaissNeighbours, 'eps', lambda self, rows: np.full(len(rows), 10.0))
    _assert_same(_run(qf, gf, ids, 'official', neighbours='faiss', **SMALL), ref, tol=0)
    assert full_rows['rows'] == 320


def test_faiss_candidates_hold_the_lists_when_the_margin_is_zero(full_rows):
    """margin=0: faiss returns exactly the needed candidates, the last one cannot be certified
    against the first item left out unless the gap exceeds the rounding bound: still exact."""
    qf, gf, *ids = _world(40, 3, 8, dim=48)
    ref = _dense(qf, gf, ids, 'official', 10, **SMALL)
    res = _run(qf, gf, ids, 'official', neighbours='faiss', faiss_params=dict(margin=0),
               **SMALL)
    _assert_same(res, ref, tol=0)


@pytest.mark.parametrize('neighbours,params', [
    ('faiss-approx', {}), ('faiss-approx', dict(hnsw_m=8, ef_construction=16)),
    ('bf16-approx', {})])
def test_approximate_neighbours_stay_close_to_exact(neighbours, params, monkeypatch,
                                                    full_rows):
    """HNSW (default settings, and a sparser graph) and the bfloat16 product on 2,400 clustered
    images of a hard set (R1 45%): mAP stays within 0.5 points of the exact result and R1
    within 1 point; HNSW changes every row (approximate lists and normaliser); no row is
    computed from its whole D_gg row."""
    qf, gf, *ids = _world(200, 2, 12, dim=32, noise=1.4, seed=5)
    kw = dict(k_g=10, n_graph=12, K=5)
    exact = _run(qf, gf, ids, 'official', **kw)
    full_rows['rows'] = 0
    seen = []
    orig = streaming.Bf16Neighbours.nearest
    monkeypatch.setattr(streaming.Bf16Neighbours, 'nearest',
                        lambda self, r0, r1, k: seen.append(r1 - r0) or orig(self, r0, r1, k))
    approx = _run(qf, gf, ids, 'official', neighbours=neighbours, faiss_params=params, **kw)
    assert full_rows['rows'] == 0
    assert (sum(seen) == 2400) == (neighbours == 'bf16-approx')
    if neighbours == 'faiss-approx':
        assert not np.array_equal(approx.distances, exact.distances)  # really approximate
    assert abs(approx.metrics.mAP - exact.metrics.mAP) <= 0.005
    assert abs(float(approx.metrics.cmc[0]) - float(exact.metrics.cmc[0])) <= 0.01
    assert np.abs(approx.distances - exact.distances).max() < 0.2


def test_faiss_bad_settings_are_refused(monkeypatch):
    qf, gf, *ids = _world(10, 2, 5)
    with pytest.raises(ValueError, match="neighbours must be one of .*'faiss-approx'"):
        similarity_inference_features(qf, gf, neighbours='annoy')
    with pytest.raises(ValueError, match='cannot use a distance_fn'):
        similarity_inference_features(qf, gf, neighbours='faiss',
                                      distance_fn=lambda a, b: torch.cdist(a, b))
    with pytest.raises(ValueError, match=r"faiss_params: unknown key\(s\) \['nprobe'\]"):
        similarity_inference_features(qf, gf, neighbours='faiss', faiss_params=dict(nprobe=3))
    with pytest.raises(ValueError, match='ef_search must be >= 1'):
        similarity_inference_features(qf, gf, neighbours='faiss-approx',
                                      faiss_params=dict(ef_search=0))
    monkeypatch.setitem(sys.modules, 'faiss', None)  # "not installed"
    with pytest.raises(ImportError, match='pip install faiss-cpu'):
        similarity_inference_features(qf, gf, k_g=3, n_graph=4, K=2, neighbours='faiss')


@pytest.mark.parametrize('normalised', [False, True])
def test_faiss_index_bounds_hold(normalised):
    """The exact indexes' bounds: every item outside the returned nearest (farthest) list is
    at least (at most) the bound -/+ eps, in the tiled path's own distances; the farthest list
    is the true one. Features of different norms (the [y, |y|^2] inner-product index) and
    L2-normalised ones (the antipode search in the L2 index)."""
    g = torch.Generator().manual_seed(2)
    gf = torch.randn(300, 40, generator=g) * (0.3 + torch.rand(300, 1, generator=g))
    if normalised:
        gf = l2_normalize(gf)
    idx = FaissNeighbours(gf, 'sqeuclidean', False, streaming.FaissParams())
    assert (idx.far is None) == normalised
    D = compute_distance(gf, gf, 'sqeuclidean').double().numpy()
    sq, ids = idx.nearest(0, 300, 20)
    fi, bound = idx.farthest(0, 300, 5)
    eps = idx.eps(np.arange(300))
    for r in range(300):
        out = np.setdiff1d(np.arange(300), ids[r])
        assert D[r, out].min() >= sq[r, -1] - eps[r]
        assert np.allclose(np.sort(D[r, ids[r]]), sq[r], atol=eps[r])
        assert set(fi[r]) == set(np.argsort(-D[r], kind='stable')[:5])
        out = np.setdiff1d(np.arange(300), fi[r])
        assert D[r, out].max() <= bound[r] + eps[r]
        assert D[r, fi[r]].min() >= bound[r] - eps[r]  # a tight bound: the 5th farthest


def test_gallery_cache_reuses_the_structure(full_rows):
    """Two query batches against one gallery with gallery_cache: the gallery rows are computed
    once; the results equal two independent calls."""
    qf, gf, *ids = _world(20, 2, 6)
    cache = {}
    a = similarity_inference_features(qf[:20], gf, return_distances=True, gallery_cache=cache)
    built = full_rows['rows']
    b = similarity_inference_features(qf[20:], gf, return_distances=True, gallery_cache=cache)
    assert built == 120 and full_rows['rows'] == built
    similarity_inference_features(qf[20:], gf.clone(), return_distances=True,
                                  gallery_cache=cache)  # another tensor: rebuilt
    assert full_rows['rows'] == 2 * built
    ref = similarity_inference_features(qf, gf, return_distances=True)
    assert np.array_equal(np.concatenate([a.distances, b.distances]), ref.distances)


def test_rerank_tool_stream_with_faiss_neighbours(tmp_path, capsys):
    """``tools/rerank.py --stream --neighbours faiss`` prints the dense tool's numbers;
    ``faiss-approx`` runs with its HNSW settings; HNSW flags without it are refused."""
    import os
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))), 'tools'))
    import rerank

    from asym_plugins.engine.cli import ConfigError
    qf, gf, qp, gp, qc, gc = _world(40, 2, 8, dim=48)
    path = tmp_path / 'feats.npz'
    np.savez(path, qf=qf.numpy(), gf=gf.numpy(), q_pids=qp, g_pids=gp, q_camids=qc,
             g_camids=gc)
    hp = ['--k-g', '6', '--n-graph', '8', '--K', '4']
    dense = rerank.main([str(path), *hp])
    exact = rerank.main([str(path), *hp, '--stream', '--neighbours', 'faiss'])
    assert exact['after'] == dense['after'] and exact['before'] == dense['before']
    assert exact['stream']['neighbours'] == 'faiss'
    approx = rerank.main([str(path), *hp, '--stream', '--neighbours', 'faiss-approx',
                          '--hnsw-m', '8', '--ef-search', '32'])
    assert approx['stream']['faiss_params'] == dict(hnsw_m=8, ef_search=32)
    assert abs(approx['after']['mAP'] - dense['after']['mAP']) <= 0.5  # points
    assert 'faiss-approx neighbours' in capsys.readouterr().out
    bf16 = rerank.main([str(path), *hp, '--stream', '--neighbours', 'bf16-approx'])
    assert abs(bf16['after']['mAP'] - dense['after']['mAP']) <= 0.5
    with pytest.raises(ConfigError, match='add --neighbours faiss-approx'):
        rerank.main([str(path), '--stream', '--ef-search', '32'])
