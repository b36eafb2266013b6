"""k-reciprocal re-ranking: equal to torchreid's ``re_ranking`` within float32 tolerance."""
import numpy as np
import pytest
import torch
from conftest import require  # noqa: E402

from asym_plugins.methods.sim import KReciprocalReranker, k_reciprocal_rerank, re_ranking

tr_rerank = require('torchreid.reid.utils.rerank').re_ranking
assert 'asym_plugins' not in tr_rerank.__code__.co_filename  # torchreid's own, never ours


@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    """Tiny inputs: one intra-op thread is faster (and immune to CPU contention); restored after."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _data(seed, nq, ng, d=16, dtype=np.float64, n_ids=6):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids, d))
    q = centres[rng.integers(0, n_ids, nq)] + rng.standard_normal((nq, d))
    g = centres[rng.integers(0, n_ids, ng)] + rng.standard_normal((ng, d))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    g /= np.linalg.norm(g, axis=1, keepdims=True)

    def cd(a, b):
        return np.sqrt(np.maximum(((a[:, None] - b[None]) ** 2).sum(-1), 0.0))

    qq, gg = cd(q, q), cd(g, g)
    np.fill_diagonal(qq, 0.0)
    np.fill_diagonal(gg, 0.0)
    return cd(q, g).astype(dtype), qq.astype(dtype), gg.astype(dtype)


@pytest.mark.parametrize('k1,k2,lam', [(20, 6, 0.3), (4, 2, 0.3), (6, 1, 0.5), (3, 3, 0.0),
                                       (1, 1, 1.0), (9, 4, 0.2), (30, 30, 0.3)])
@pytest.mark.parametrize('dtype', [np.float64, np.float32])
def test_equals_torchreid_small(k1, k2, lam, dtype):
    qg, qq, gg = _data(k1 * 7 + k2, 7, 15, dtype=dtype)
    got = k_reciprocal_rerank(qg, qq, gg, k1=k1, k2=k2, lambda_value=lam)
    exp = tr_rerank(qg, qq, gg, k1=k1, k2=k2, lambda_value=lam)
    assert got.dtype == np.float32 and got.shape == exp.shape
    np.testing.assert_allclose(got, exp, rtol=0, atol=2e-6)


@pytest.mark.parametrize('chunk', [1024, 1 << 22])
def test_equals_torchreid_medium(chunk):
    qg, qq, gg = _data(1, 60, 300, dtype=np.float32, n_ids=20)
    got = k_reciprocal_rerank(qg, qq, gg, chunk_size=chunk)
    exp = tr_rerank(qg, qq, gg)
    np.testing.assert_allclose(got, exp, rtol=0, atol=2e-6)


def test_asymmetric_inputs_follow_torchreid_transpose():
    """torchreid normalises columns and transposes; with asymmetric D_gg/D_qq that matters."""
    qg, qq, gg = _data(2, 9, 25)
    rng = np.random.default_rng(3)
    gg = gg + 0.05 * rng.random(gg.shape)
    qq = qq + 0.05 * rng.random(qq.shape)
    got = k_reciprocal_rerank(qg, qq, gg, k1=5, k2=3)
    exp = tr_rerank(qg, qq, gg, k1=5, k2=3)
    np.testing.assert_allclose(got, exp, rtol=0, atol=2e-6)


def test_re_ranking_signature_and_io():
    qg, qq, gg = _data(4, 8, 20)
    out = re_ranking(qg, qq, gg, 5, 2, 0.4)  # positional, like torchreid
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, tr_rerank(qg, qq, gg, 5, 2, 0.4), atol=2e-6)
    t = k_reciprocal_rerank(torch.from_numpy(qg), torch.from_numpy(qq), torch.from_numpy(gg),
                            k1=5, k2=2, lambda_value=0.4)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.device.type == 'cpu'
    np.testing.assert_allclose(t.numpy(), out, atol=1e-7)


def test_deterministic_with_ties():
    rng = np.random.default_rng(5)
    n = 20
    a = rng.integers(1, 4, (n, n)).astype(np.float64)
    d = np.triu(a, 1) + np.triu(a, 1).T
    qq, qg, gg = d[:6, :6], d[:6, 6:], d[6:, 6:]
    runs = [k_reciprocal_rerank(qg, qq, gg, k1=4, k2=2) for _ in range(3)]
    small = k_reciprocal_rerank(qg, qq, gg, k1=4, k2=2, chunk_size=1024)
    for r in runs[1:] + [small]:
        np.testing.assert_array_equal(r, runs[0])


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_ties_follow_numpy_argsort_like_torchreid(seed):
    """Tie-heavy integer distances: with tie_break='numpy' the neighbour lists (hence the result)
    are torchreid's; 'index' is the stable rule (and deterministic too)."""
    rng = np.random.default_rng(seed)
    n, nq = 90, 30
    a = rng.integers(1, 6, (n, n)).astype(np.float32)
    d = np.triu(a, 1) + np.triu(a, 1).T
    qq, qg, gg = d[:nq, :nq], d[:nq, nq:], d[nq:, nq:]
    got = k_reciprocal_rerank(qg, qq, gg, k1=7, k2=3)
    np.testing.assert_allclose(got, tr_rerank(qg, qq, gg, k1=7, k2=3), rtol=0, atol=2e-6)
    idx = [k_reciprocal_rerank(qg, qq, gg, k1=7, k2=3, tie_break='index') for _ in range(2)]
    np.testing.assert_array_equal(idx[0], idx[1])


def test_bad_inputs():
    qg, qq, gg = _data(6, 5, 12)
    with pytest.raises(ValueError, match='dist_qq must be'):
        k_reciprocal_rerank(qg, qq[:-1, :-1], gg)
    with pytest.raises(ValueError, match='dist_gg must be'):
        k_reciprocal_rerank(qg, qq, gg[:-1])
    bad = qg.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match='dist_qg'):
        k_reciprocal_rerank(bad, qq, gg)
    bad = gg.copy()
    bad[0, 1] = -np.inf
    with pytest.raises(ValueError, match='dist_gg'):
        k_reciprocal_rerank(qg, qq, bad)
    with pytest.raises(ValueError, match='k1'):
        k_reciprocal_rerank(qg, qq, gg, k1=0)
    with pytest.raises(ValueError, match='lambda_value'):
        k_reciprocal_rerank(qg, qq, gg, lambda_value=1.5)
    with pytest.raises(ValueError, match='tie_break'):
        k_reciprocal_rerank(qg, qq, gg, tie_break='random')


def test_reranker_class():
    from asym_plugins.registry import RERANKERS
    qg, qq, gg = _data(7, 6, 14)
    r = RERANKERS.build(dict(type='KReciprocalReranker', k1=5, k2=2, lambda_value=0.3))
    assert r.needs_qq and r.needs_gg
    out = r(torch.from_numpy(qg), torch.from_numpy(gg), torch.from_numpy(qq))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), tr_rerank(qg, qq, gg, 5, 2, 0.3), atol=2e-6)
    with pytest.raises(ValueError, match='dist_qq'):
        r(torch.from_numpy(qg), torch.from_numpy(gg))
    with pytest.raises(ValueError, match='k1'):
        KReciprocalReranker(k1=0)
