"""SIM (Similarity Inference Metric): both modes against slow, obvious references.

The references below are written from the method page docs/sim.md (equations, and the
description of the released code) with per-pair Python loops; ties are broken by the lower
index in equations mode and as numpy.argsort does in official mode (tests/test_sim_released.py).
"""

import numpy as np
import pytest
import torch
from test_sim_released import released_reference  # noqa: E402

from asym_plugins.methods import sim as sim_pkg
from asym_plugins.methods.sim import (
    SIM_PRESETS,
    SIMReranker,
    _kernels,
    sim_graph_distance,
    sim_re_ranking,
    similarity_inference,
)


@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    """Tiny inputs: one intra-op thread is faster (and immune to CPU contention); restored after."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# --------------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------------
def _order(row, items=None):
    items = range(len(row)) if items is None else items
    return sorted(items, key=lambda t: (row[t], t))


def ref_official(qg, gg, lam, K, k_q, k_g, alpha, n_graph=20, components='both'):
    """The released behaviour, loop by loop (tests/test_sim_released.py)."""
    return released_reference(qg, gg, lam, K, k_q, k_g, alpha, n_graph=n_graph,
                              components=components)


def ref_equations(qg, gg, lam, K, k_q, k_g, alpha, prune_T=None, components='both',
                  expand=False):
    nq, ng = qg.shape

    def E(t, j):  # edge g_t -> g_j; E(g_j, g_j) = 0
        return 0.0 if t == j else lam * gg[t, j]

    if components == 'mutual':
        dS = qg.copy()
    else:
        dS = np.zeros((nq, ng))
        for i in range(nq):
            near = _order(qg[i])[:prune_T] if prune_T is not None else list(range(ng))
            for j in range(ng):
                cands = set(near) | {j}
                vals = sorted(qg[i, t] + E(t, j) for t in cands)
                s = 0.0
                for v in vals[:K]:
                    s += v
                dS[i, j] = s / K
    if components == 'graph':
        return dS

    def N(g, k):  # g itself, then its k nearest other gallery items
        return [g] + _order(gg[g], [t for t in range(ng) if t != g])[:k]

    def R(j, k):
        return {t for t in N(j, k) if j in N(t, k)}

    out = np.zeros((nq, ng))
    kh = int(np.around(k_g / 2.))
    for j in range(ng):
        Rj = R(j, k_g)
        if expand:
            base = set(Rj)
            for c in base:
                Rc = R(c, kh)
                if len(Rc & base) > 2. / 3 * len(Rc):
                    Rj = Rj | Rc
        for i in range(nq):
            Nc = set(_order(dS[i])[:k_q])
            dM = 1 - len(Nc & Rj) / len(Nc | Rj)
            out[i, j] = alpha * dS[i, j] + (1 - alpha) * dM
    return out


def _features(rng, n, d=8, ids=None, shift=0.0):
    """Unit-norm features with some identity structure."""
    ids = rng.integers(0, 4, n) if ids is None else ids
    centres = np.random.default_rng(123).standard_normal((8, d))
    x = centres[ids] + 0.8 * rng.standard_normal((n, d)) + shift
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _cdist(a, b):
    return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0))


def _data(seed=0, nq=7, ng=15):
    rng = np.random.default_rng(seed)
    q = _features(rng, nq, shift=0.3)
    g = _features(rng, ng)
    gg = _cdist(g, g)
    np.fill_diagonal(gg, 0.0)
    return _cdist(q, g), gg


OFFICIAL_HP = [
    dict(lam=0.01, K=9, k_q=12, k_g=20, alpha=0.3),   # SYSU preset (k's clamped by the gallery)
    dict(lam=0.1, K=5, k_q=9, k_g=20, alpha=0.7),     # RegDB preset
    dict(lam=0.5, K=3, k_q=3, k_g=4, alpha=0.5, n_graph=6),
    dict(lam=1.0, K=2, k_q=2, k_g=3, alpha=0.0, n_graph=4),
    dict(lam=0.2, K=6, k_q=5, k_g=5, alpha=1.0, n_graph=6),
]


@pytest.mark.parametrize('hp', OFFICIAL_HP)
@pytest.mark.parametrize('seed', [0, 1])
def test_official_equals_reference(hp, seed):
    qg, gg = _data(seed)
    got = similarity_inference(qg, gg, mode='official', **hp)
    exp = ref_official(qg, gg, **hp)
    np.testing.assert_allclose(got, exp, rtol=0, atol=1e-6)  # float32 fusion, as released


EQ_HP = [
    dict(lam=0.01, K=9, k_q=12, k_g=20, alpha=0.3),
    dict(lam=0.1, K=5, k_q=9, k_g=20, alpha=0.7),
    dict(lam=0.8, K=3, k_q=3, k_g=4, alpha=0.5),   # large lambda: certificates fail, later stages
    dict(lam=0.0, K=1, k_q=1, k_g=1, alpha=0.2),
    dict(lam=2.0, K=15, k_q=15, k_g=14, alpha=0.9),  # K = Ng
]


@pytest.mark.parametrize('hp', EQ_HP)
@pytest.mark.parametrize('seed', [0, 2])
def test_equations_exact_equals_reference(hp, seed):
    qg, gg = _data(seed)
    got = similarity_inference(qg, gg, mode='equations', **hp)
    np.testing.assert_allclose(got, ref_equations(qg, gg, **hp), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('T', [3, 5, 9, 14])
def test_equations_pruned_equals_reference(T):
    qg, gg = _data(3)
    hp = dict(lam=0.7, K=3, k_q=4, k_g=5, alpha=0.4)
    got = similarity_inference(qg, gg, mode='equations', prune_T=T, **hp)
    np.testing.assert_allclose(got, ref_equations(qg, gg, prune_T=T, **hp), rtol=1e-10,
                               atol=1e-12)


def test_pruned_with_T_equal_Ng_equals_exact():
    qg, gg = _data(4, nq=9, ng=40)
    hp = dict(lam=0.6, K=4, k_q=5, k_g=6, alpha=0.3)
    exact = similarity_inference(qg, gg, mode='equations', **hp)
    for T in (40, 100):
        pruned = similarity_inference(qg, gg, mode='equations', prune_T=T, **hp)
        np.testing.assert_array_equal(pruned, exact)


def test_expand_option_equals_reference():
    qg, gg = _data(5)
    hp = dict(lam=0.3, K=3, k_q=4, k_g=6, alpha=0.5)
    got = similarity_inference(qg, gg, mode='equations', expand=True, **hp)
    np.testing.assert_allclose(got, ref_equations(qg, gg, expand=True, **hp), rtol=1e-10,
                               atol=1e-12)


def _brute_dS(qg, gg, lam, K, prune_T=None):
    """Vectorised (min,+) top-K straight from eqs. (4)-(5) (numpy, float64)."""
    nq, ng = qg.shape
    E = lam * gg.copy()
    np.fill_diagonal(E, 0.0)
    vals = qg[:, :, None] + E[None, :, :]  # (i, t, j)
    if prune_T is not None:
        keep = np.zeros((nq, ng), bool)
        order = np.argsort(qg, axis=1, kind='stable')[:, :prune_T]
        np.put_along_axis(keep, order, True, axis=1)
        mask = keep[:, :, None] | np.eye(ng, dtype=bool)[None]
        vals = np.where(mask, vals, np.inf)
    return np.sort(vals, axis=1)[:, :K, :].mean(1)


@pytest.mark.parametrize('lam', [0.02, 0.3, 1.5])
def test_equations_staged_certificates_large(lam):
    """Bigger gallery, tiny chunks: several certificate stages, still exact."""
    qg, gg = _data(6, nq=8, ng=110)
    stats = {}
    got = sim_graph_distance(qg, gg, mode='equations', lam=lam, K=4, chunk_size=4096,
                             stats=stats)
    np.testing.assert_allclose(got, _brute_dS(qg, gg, lam, 4), rtol=1e-12, atol=1e-12)
    assert sum(stats['resolved']) == stats['pairs'] == 8 * 110
    assert stats['uncertified'] == 0
    pruned = sim_graph_distance(qg, gg, mode='equations', lam=lam, K=4, prune_T=30,
                                chunk_size=4096)
    np.testing.assert_allclose(pruned, _brute_dS(qg, gg, lam, 4, prune_T=30), rtol=1e-12,
                               atol=1e-12)


def test_staged_path_is_exercised():
    qg, gg = _data(7, nq=10, ng=120)
    stats = {}
    sim_graph_distance(qg, gg, mode='equations', lam=1.0, K=3, stats=stats)
    assert len(stats['stages']) > 1 and stats['stages'][-1] == 120


@pytest.mark.parametrize('mode', ['official', 'equations'])
@pytest.mark.parametrize('components', ['graph', 'mutual'])
def test_ablations_equal_reference(mode, components):
    qg, gg = _data(8)
    hp = dict(lam=0.2, K=4, k_q=4, k_g=5, alpha=0.4)
    got = similarity_inference(qg, gg, mode=mode, components=components, n_graph=8, **hp)
    ref = ref_official(qg, gg, n_graph=8, components=components, **hp) if mode == 'official' \
        else ref_equations(qg, gg, components=components, **hp)
    tol = 1e-6 if mode == 'official' else 1e-12  # official: float32 fusion, as released
    np.testing.assert_allclose(got, ref, rtol=0 if mode == 'official' else 1e-10, atol=tol)


@pytest.mark.parametrize('mode', ['official', 'equations'])
def test_chunk_size_does_not_change_result(mode):
    qg, gg = _data(9, nq=11, ng=50)
    hp = dict(lam=0.3, K=4, k_q=6, k_g=7, alpha=0.5)
    big = similarity_inference(qg, gg, mode=mode, **hp)
    small = similarity_inference(qg, gg, mode=mode, chunk_size=1024, **hp)
    np.testing.assert_allclose(small, big, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize('mode', ['official', 'equations'])
def test_ties_deterministic_and_index_tie_break(mode):
    """Integer distances: many exact ties; the result follows the (value, index) rule."""
    rng = np.random.default_rng(10)
    nq, ng = 6, 14
    qg = rng.integers(1, 4, (nq, ng)).astype(np.float64)
    a = rng.integers(1, 4, (ng, ng)).astype(np.float64)
    gg = np.triu(a, 1) + np.triu(a, 1).T
    hp = dict(lam=0.5, K=3, k_q=4, k_g=4, alpha=0.5)
    kw = dict(n_graph=6) if mode == 'official' else {}
    runs = [similarity_inference(qg, gg, mode=mode, **kw, **hp) for _ in range(3)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])
    ref = ref_official(qg, gg, n_graph=6, **hp) if mode == 'official' \
        else ref_equations(qg, gg, **hp)
    np.testing.assert_allclose(runs[0], ref, rtol=0 if mode == 'official' else 1e-10,
                               atol=1e-6 if mode == 'official' else 1e-12)
    small = similarity_inference(qg, gg, mode=mode, chunk_size=1024, **kw, **hp)
    np.testing.assert_allclose(small, runs[0], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize('use_faiss', [True, False])
def test_topk_smallest_matches_stable_sort(monkeypatch, use_faiss):
    monkeypatch.setattr(_kernels, 'USE_FAISS', use_faiss and _kernels._faiss is not None)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 6, (50, 300), generator=g).to(torch.float32)  # heavy ties
    x[::3] = torch.rand(17, 300, generator=g)
    x[1, ::7] = float('inf')
    big = torch.randint(0, 40, (64, 20000), generator=g).to(torch.float32)  # faiss-sized
    for x, ks in ((x, (1, 5, 40, 299, 300)), (big, (7, 100))):
        sv, si = torch.sort(x, dim=1, stable=True)
        for k in ks:
            v, i = _kernels.topk_smallest(x, k)
            assert torch.equal(i, si[:, :k]) and torch.equal(v, sv[:, :k])


@pytest.mark.parametrize('n,k', [(1, 1), (2, 1), (5, 3), (10, 9), (20, 9), (20, 5), (21, 9),
                                 (33, 7), (16, 16)])
def test_selection_network(n, k):
    g = torch.Generator().manual_seed(n * 100 + k)
    x = torch.randint(0, 5, (n, 64), generator=g).to(torch.float64) + \
        torch.rand(n, 64, generator=g).round()  # ties included
    planes = [x[s].clone() for s in range(n)]
    got = torch.stack(_kernels.kmin_planes(planes, k, torch.empty(64, dtype=torch.float64)))
    assert torch.equal(got, torch.sort(x, dim=0).values[:k])


def test_numpy_and_torch_io():
    qg, gg = _data(11)
    out = similarity_inference(qg, gg)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == qg.shape
    out32 = similarity_inference(qg.astype(np.float32), gg.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out, atol=1e-5)
    for mode in ('official', 'equations'):
        t = similarity_inference(torch.from_numpy(qg), torch.from_numpy(gg), mode=mode)
        assert isinstance(t, torch.Tensor) and t.device.type == 'cpu' and t.dtype == torch.float64
        np.testing.assert_allclose(t.numpy(), similarity_inference(qg, gg, mode=mode))
    t32 = similarity_inference(torch.from_numpy(qg).float(), torch.from_numpy(gg).float())
    assert t32.dtype == torch.float32


def test_presets():
    qg, gg = _data(12)
    np.testing.assert_array_equal(similarity_inference(qg, gg, preset='regdb'),
                                  similarity_inference(qg, gg, **SIM_PRESETS['regdb']))
    np.testing.assert_array_equal(similarity_inference(qg, gg),
                                  similarity_inference(qg, gg, **SIM_PRESETS['sysu_mm01']))
    # explicit arguments override the preset
    np.testing.assert_array_equal(
        similarity_inference(qg, gg, preset='regdb', alpha=0.2),
        similarity_inference(qg, gg, **dict(SIM_PRESETS['regdb'], alpha=0.2)))
    with pytest.raises(ValueError, match='preset'):
        similarity_inference(qg, gg, preset='market')


def test_bad_inputs():
    qg, gg = _data(13)
    cases = [
        (dict(K=16, mode='equations'), 'larger than the gallery'),
        (dict(K=21), 'n_graph'),
        (dict(K=5, n_graph=4), 'n_graph'),
        (dict(K=5, prune_T=3, mode='equations'), 'prune_T'),
        (dict(prune_T=10), 'prune_T'),
        (dict(k_q=0), 'k_q'),
        (dict(k_g=0), 'k_g'),
        (dict(K=0), 'K'),
        (dict(alpha=1.5), 'alpha'),
        (dict(alpha=-0.1), 'alpha'),
        (dict(lam=-1.0), 'lam'),
        (dict(mode='paper'), 'mode'),
        (dict(components='all'), 'components'),
    ]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            similarity_inference(qg, gg, **kw)
    bad = qg.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match='dist_qg.*(NaN|finite)'):
        similarity_inference(bad, gg)
    bad = gg.copy()
    bad[1, 1] = np.inf
    with pytest.raises(ValueError, match='dist_gg.*(NaN|finite)'):
        similarity_inference(qg, bad, mode='equations')
    with pytest.raises(ValueError, match='dist_gg must be'):
        similarity_inference(qg, gg[:-1, :-1])
    with pytest.raises(ValueError, match='dist_gg must be'):
        similarity_inference(qg, gg[:, :-1])
    with pytest.raises(ValueError, match='2-D'):
        similarity_inference(qg[0], gg)
    with pytest.raises(ValueError, match='K=16'):
        SIMReranker(mode='equations', K=16)(torch.from_numpy(qg), torch.from_numpy(gg))
    with pytest.raises(ValueError, match='alpha'):
        SIMReranker(alpha=2.0)


def test_reranker_registry_and_torchreid_entry():
    from asym_plugins.registry import RERANKERS
    qg, gg = _data(14)
    r = RERANKERS.build(dict(type='SIMReranker', mode='equations', preset='regdb'))
    assert r.needs_gg and not r.needs_qq
    out = r(torch.from_numpy(qg), torch.from_numpy(gg))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), similarity_inference(qg, gg, mode='equations',
                                                                 preset='regdb'))
    out2 = r(qg, gg)  # numpy accepted, tensor returned
    assert isinstance(out2, torch.Tensor)
    # torchreid-style positional signature; q_q ignored
    qq = np.zeros((qg.shape[0], qg.shape[0]))
    np.testing.assert_array_equal(sim_re_ranking(qg, qq, gg), similarity_inference(qg, gg))
    np.testing.assert_array_equal(sim_re_ranking(qg, None, gg, mode='equations', K=3),
                                  similarity_inference(qg, gg, mode='equations', K=3))
    assert sim_pkg.SIMReranker is SIMReranker


def test_grad_inputs_and_int_inputs():
    qg, gg = _data(15)
    t = torch.from_numpy(qg).requires_grad_(True)
    out = similarity_inference(t, torch.from_numpy(gg))
    assert not out.requires_grad
    out_i = similarity_inference((qg * 10).astype(np.int64), (gg * 10).astype(np.int64),
                                 mode='equations', K=2)
    assert out_i.dtype == np.float32
