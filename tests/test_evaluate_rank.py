"""evaluate_rank / compute_distance vs torchreid and vs obvious per-query loops."""
import pickle
import warnings

import numpy as np
import pytest
import torch

from asym_plugins.evaluation import (
    RankResult,
    compute_distance,
    evaluate_rank,
    evaluate_ranking,
    first_occurrence_mask,
    market_exclusion,
    ranked_match_stats,
)


# ----------------------------------------------------------------------------- references
def reference_market(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    """Per-query loop: stable ranking, market exclusion, skip queries without a match."""
    distmat = np.asarray(distmat, dtype=np.float64)
    cmcs, aps, inps, skipped = [], [], [], 0
    for i in range(distmat.shape[0]):
        order = np.argsort(distmat[i], kind='stable')
        kept = [j for j in order if not (g_pids[j] == q_pids[i] and g_camids[j] == q_camids[i])]
        hits = [g_pids[j] == q_pids[i] for j in kept]
        positions = [r for r, h in enumerate(hits) if h]
        if not positions:
            skipped += 1
            continue
        cmcs.append([1.0 if r >= positions[0] else 0.0 for r in range(max_rank)])
        aps.append(sum((k + 1) / (p + 1) for k, p in enumerate(positions)) / len(positions))
        inps.append(len(positions) / (positions[-1] + 1))
    return np.mean(cmcs, axis=0), float(np.mean(aps)), float(np.mean(inps)), skipped


def random_problem(rng, nq=40, ng=120, n_ids=15, n_cams=4, missing_ids=3):
    g_pids = rng.integers(0, n_ids, ng)
    # some query ids never appear in the gallery -> those queries have no valid match
    q_pids = rng.integers(0, n_ids + missing_ids, nq)
    q_camids, g_camids = rng.integers(0, n_cams, nq), rng.integers(0, n_cams, ng)
    distmat = rng.random((nq, ng))  # float64: tie-free
    return distmat, q_pids, g_pids, q_camids, g_camids


@pytest.fixture(scope='module')
def torchreid_evaluate_rank():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from torchreid.reid.metrics import rank as tr_rank
    # PyPI torchreid 0.2.5 may use aliases removed from numpy >= 1.24 (np.int / np.bool).
    mp = pytest.MonkeyPatch()
    for alias, real in (('int', int), ('bool', bool), ('float', float)):
        if not hasattr(np, alias):
            mp.setattr(np, alias, real, raising=False)
    # torchreid's own function object (register_all only rebinds torchreid.reid.metrics'
    # attribute, never the rank module's): a reference that is not us
    assert 'asym_plugins' not in tr_rank.evaluate_rank.__code__.co_filename
    yield tr_rank.evaluate_rank
    mp.undo()


# ----------------------------------------------------------------------------- evaluate_rank
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_matches_torchreid_python_evaluator(seed, torchreid_evaluate_rank):
    rng = np.random.default_rng(seed)
    d, qp, gp, qc, gc = random_problem(rng)
    cmc, mAP, mINP = evaluate_rank(d, qp, gp, qc, gc, max_rank=20)
    tr_cmc, tr_map = torchreid_evaluate_rank(d, qp, gp, qc, gc, max_rank=20, use_cython=False)
    assert cmc.dtype == np.float32 and cmc.shape == (20,)
    np.testing.assert_allclose(cmc, tr_cmc, atol=1e-6)
    assert abs(mAP - tr_map) < 1e-6
    ref_cmc, ref_map, ref_minp, skipped = reference_market(d, qp, gp, qc, gc, 20)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-6)
    assert abs(mAP - ref_map) < 1e-9 and abs(mINP - ref_minp) < 1e-9
    res = evaluate_rank(d, qp, gp, qc, gc, max_rank=20)
    assert skipped > 0 and res.num_skipped == skipped
    assert res.num_valid == len(qp) - skipped


def test_float32_torch_inputs_and_result_object():
    rng = np.random.default_rng(3)
    d, qp, gp, qc, gc = random_problem(rng)
    res = evaluate_rank(torch.from_numpy(d).float(), torch.from_numpy(qp), list(gp),
                        torch.from_numpy(qc), gc, max_rank=10, return_per_query=True)
    ref_cmc, ref_map, ref_minp, _ = reference_market(d.astype(np.float32), qp, gp, qc, gc, 10)
    np.testing.assert_allclose(res.cmc, ref_cmc, atol=1e-6)
    assert abs(res.mAP - ref_map) < 1e-9 and abs(res.mINP - ref_minp) < 1e-9
    assert isinstance(res, tuple) and len(res) == 3
    cmc, mAP, mINP = res
    assert res.per_query.ap.shape == (len(qp),)
    assert (res.per_query.first_hit[res.per_query.num_pos == 0] == -1).all()
    again = pickle.loads(pickle.dumps(res))
    assert isinstance(again, RankResult) and again.num_skipped == res.num_skipped
    assert set(res.to_dict()) == {'R1', 'R5', 'R10', 'mAP', 'mINP'}


def test_chunk_size_and_method_do_not_change_results():
    rng = np.random.default_rng(4)
    d, qp, gp, qc, gc = random_problem(rng, nq=50, ng=90)
    base = evaluate_rank(d, qp, gp, qc, gc, max_rank=30, return_per_query=True)
    for chunk in (1, 7, 50, 1000):
        r = evaluate_rank(d, qp, gp, qc, gc, max_rank=30, chunk_size=chunk, return_per_query=True)
        np.testing.assert_array_equal(r.cmc, base.cmc)
        for a, b in zip(r.per_query, base.per_query):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    s = evaluate_ranking(d, qp, gp, qc, gc, max_rank=30, chunk_size=9, method='sort',
                         return_per_query=True)
    for a, b in zip(s.per_query, base.per_query):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_ties_follow_a_stable_sort(dtype):
    rng = np.random.default_rng(5)
    d, qp, gp, qc, gc = random_problem(rng, nq=30, ng=60)
    d = (np.round(d * 6) / 6).astype(dtype)  # many ties, including -0.0 vs 0.0 below
    d[0, :5] = -0.0
    d[0, 5:10] = 0.0
    cmc, mAP, mINP = evaluate_rank(d, qp, gp, qc, gc, max_rank=25, chunk_size=4)
    ref_cmc, ref_map, ref_minp, _ = reference_market(d, qp, gp, qc, gc, 25)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-6)
    assert abs(mAP - ref_map) < 1e-9 and abs(mINP - ref_minp) < 1e-9


def test_max_rank_is_clamped_to_gallery_size():
    rng = np.random.default_rng(6)
    d, qp, gp, qc, gc = random_problem(rng, nq=10, ng=8, n_ids=3, missing_ids=0)
    res = evaluate_rank(d, qp, gp, qc, gc, max_rank=50)
    assert res.cmc.shape == (8,)
    assert res.to_dict((1, 5, 10))['R10'] == pytest.approx(100.0 * res.cmc[-1])


def test_input_errors():
    d = np.random.rand(3, 4)
    ids = np.arange(4)
    with pytest.raises(ValueError, match='query set is empty'):
        evaluate_rank(np.zeros((0, 4)), [], ids, [], ids)
    with pytest.raises(ValueError, match='q_pids'):
        evaluate_rank(d, [0, 1], ids, [0, 0, 0], ids)
    with pytest.raises(ValueError, match='g_camids'):
        evaluate_rank(d, [0, 1, 2], ids, [0, 0, 0], [0])
    with pytest.raises(ValueError, match='2-D'):
        evaluate_rank(np.zeros(4), [0], ids, [0], ids)
    with pytest.raises(ValueError, match='has a valid match'):
        evaluate_rank(d, [7, 8, 9], ids, [0, 0, 0], ids)
    bad = d.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        evaluate_rank(bad, [0, 1, 2], ids, [9, 9, 9], ids)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu():
    rng = np.random.default_rng(7)
    d, qp, gp, qc, gc = random_problem(rng, nq=64, ng=200)
    cpu = evaluate_rank(d, qp, gp, qc, gc, return_per_query=True)
    gpu = evaluate_rank(torch.from_numpy(d).cuda(), torch.from_numpy(qp).cuda(), gp, qc, gc,
                        return_per_query=True, chunk_size=16)
    np.testing.assert_array_equal(gpu.cmc, cpu.cmc)
    for a, b in zip(gpu.per_query, cpu.per_query):
        np.testing.assert_allclose(a, b, atol=1e-12)


# ----------------------------------------------------------------------------- building blocks
def test_ranked_match_stats_with_keep_and_cmc_keep():
    matches = torch.tensor([[False, True, False, True, True]])
    keep = torch.tensor([[True, False, True, True, True]])  # removes the first hit
    st = ranked_match_stats(matches, keep)
    # kept list: F, F, T, T -> positives at kept ranks 2 and 3
    assert st.first_hit.tolist() == [2]
    assert st.ap.item() == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert st.inp.item() == pytest.approx(2 / 4)
    cmc_keep = torch.tensor([[True, True, False, True, True]])  # drop the kept item at index 2
    st2 = ranked_match_stats(matches, keep, cmc_keep)
    assert st2.first_hit.tolist() == [1] and st2.ap.item() == pytest.approx(st.ap.item())


def test_first_occurrence_mask_respects_keep():
    labels = torch.tensor([[4, 4, 2, 4, 2]])
    keep = torch.tensor([[False, True, True, True, True]])
    assert first_occurrence_mask(labels, keep).tolist() == [[False, True, True, False, False]]


def test_market_exclusion_callable_equals_builtin_rule():
    rng = np.random.default_rng(8)
    d, qp, gp, qc, gc = random_problem(rng)
    a = evaluate_ranking(d, qp, gp, exclude=market_exclusion(qp, gp, qc, gc), max_rank=10)
    b = evaluate_rank(d, qp, gp, qc, gc, max_rank=10)
    np.testing.assert_array_equal(a.cmc, b.cmc)
    assert a.mAP == pytest.approx(b.mAP, abs=1e-12) and a.mINP == pytest.approx(b.mINP, abs=1e-12)


# ----------------------------------------------------------------------------- distances
@pytest.mark.parametrize('metric', ['euclidean', 'sqeuclidean', 'cosine'])
def test_compute_distance_vs_brute_force(metric):
    rng = np.random.default_rng(9)
    q, g = rng.normal(size=(7, 5)), rng.normal(size=(11, 5))
    ref = np.zeros((7, 11))
    for i in range(7):
        for j in range(11):
            if metric == 'cosine':
                ref[i, j] = 1 - q[i] @ g[j] / np.linalg.norm(q[i]) / np.linalg.norm(g[j])
            else:
                sq = float(((q[i] - g[j]) ** 2).sum())
                ref[i, j] = sq if metric == 'sqeuclidean' else np.sqrt(sq)
    for chunk in (1, 3, 100):
        out = compute_distance(torch.from_numpy(q), g, metric=metric, chunk_size=chunk)
        np.testing.assert_allclose(out.numpy(), ref, atol=1e-9)


def test_compute_distance_rejects_bad_features():
    q = torch.randn(3, 4)
    g = torch.randn(5, 4)
    g[2, 1] = float('inf')
    with pytest.raises(ValueError, match='g has 1 feature row'):
        compute_distance(q, g)
    q[0, 0] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        compute_distance(q, torch.randn(5, 4))
    with pytest.raises(ValueError, match='metric'):
        compute_distance(torch.randn(3, 4), torch.randn(5, 4), metric='manhattan')
    with pytest.raises(ValueError, match='dims differ'):
        compute_distance(torch.randn(3, 4), torch.randn(5, 3))
