"""SIM ``mode='official'`` against the behaviour of the authors' released code (docs/sim.md).

``released_reference`` below is a slow loop-by-loop reading of that behaviour, written from its
description (docs/sim.md, "Method" and "What each mode reproduces"): the graph step walks the
gallery columns in index order and overwrites column j before moving on (neighbours t < j
contribute their already-updated value), neighbour lists come from numpy's default (unstable)
argsort, the fusion works on float32 squared, row-max-normalised distances, and the
``input_dtype='float16'`` switch does the arithmetic of the released evaluation scripts on float16
numbers. ``ASYM_RELEASED_SIM=/path/to/relevancemetric.py`` additionally compares with the released
file itself (never shipped here).
"""
import importlib.util
import os

import numpy as np
import pytest
import torch

from asym_plugins.methods.sim import sim_graph_distance, similarity_inference

PRESETS = {'sysu_mm01': dict(lam=0.01, K=9, k_q=12, k_g=20, alpha=0.3),
           'regdb': dict(lam=0.1, K=5, k_q=9, k_g=20, alpha=0.7)}


@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# --------------------------------------------------------------------------------------------------
# loop-by-loop reference of the released behaviour
# --------------------------------------------------------------------------------------------------
def released_reference(qg, gg, lam, K, k_q, k_g, alpha, n_graph=20, graph_update='sequential',
                       half=False, components='both'):
    dt = np.float16 if half else np.float64
    qg, gg = np.asarray(qg, dtype=dt), np.asarray(gg, dtype=dt)
    nq, ng = qg.shape
    A = gg * dt(lam)  # lambda * D_gg in the inputs' arithmetic
    orig = qg.copy()
    d = qg.copy()
    if components != 'mutual':
        for j in range(ng):
            nbrs = np.argsort(A[j])[:n_graph]  # numpy's default sort, as released
            for i in range(nq):
                src = d if graph_update == 'sequential' else orig  # d[:, t >= j] is still original
                vals = sorted(src[i, t] + A[j, t] for t in nbrs)
                if half:  # float16 mean: float32 sum, float32 division, rounded to float16
                    s = np.float32(0)
                    for v in vals[:K]:
                        s = np.float32(s + np.float32(v))
                    d[i, j] = np.float16(np.float32(s / np.float32(K)))
                else:
                    s = 0.0
                    for v in vals[:K]:
                        s += v
                    d[i, j] = s / K

    def normalised(x):  # squared in the inputs' dtype, cast to float32, / row max
        sq = (x * x).astype(np.float32)
        return sq / sq.max()

    dn = np.stack([normalised(d[i]) for i in range(nq)])
    if components == 'graph':
        return dn
    gn = np.stack([normalised(gg[:, j]) for j in range(ng)])  # gallery rows = columns of D_gg
    Vq = np.zeros((nq, ng), np.float32)
    for i in range(nq):
        nb = np.argsort(dn[i])[:k_q + 1]
        w = np.exp(-dn[i, nb])
        Vq[i, nb] = w / w.sum()
    ranks = [np.argsort(gn[j]) for j in range(ng)]

    def recip(j, k):
        return [t for t in ranks[j][:k + 1] if j in ranks[t][:k + 1]]

    kh = int(np.around(k_g / 2.))
    Vg = np.zeros((ng, ng), np.float32)
    for j in range(ng):
        R = recip(j, k_g)
        E = set(R)
        for c in R:
            Rc = recip(c, kh)
            if len(set(Rc) & set(R)) > 2. / 3 * len(Rc):
                E |= set(Rc)
        E = sorted(E)
        w = np.exp(-gn[j, E])
        Vg[j, E] = w / w.sum()
    out = np.zeros((nq, ng))
    for i in range(nq):
        for j in range(ng):
            S = np.float32(0)
            for t in range(ng):
                S = np.float32(S + min(Vq[i, t], Vg[j, t]))
            dM = np.float32(1) - S / (np.float32(2) - S)
            out[i, j] = np.float32(dM * np.float32(1 - alpha)) + float(dn[i, j]) * alpha
    return out


# --------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------
def _cdist(a, b):
    return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0))


def _data(seed, nq, ng, dim=8, dup=0, n_ids=5):
    """L2-normalised features with identity structure; ``dup`` gallery items are exact copies of
    others (duplicate distances, ties in every neighbour list)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids, dim))
    g = centres[rng.integers(0, n_ids, ng)] + 0.7 * rng.standard_normal((ng, dim))
    if dup:
        src = rng.choice(ng - dup, dup, replace=False)
        g[ng - dup:] = g[src]
    q = centres[rng.integers(0, n_ids, nq)] + 0.8 * rng.standard_normal((nq, dim)) + 0.2
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    gg = _cdist(g, g)
    np.fill_diagonal(gg, 0.0)
    return _cdist(q, g), gg


SHAPES = [(6, 9), (9, 19), (12, 33), (20, 45)]


@pytest.mark.parametrize('preset', sorted(PRESETS))
@pytest.mark.parametrize('shape', SHAPES)
def test_official_equals_released_reference(preset, shape):
    hp = PRESETS[preset]
    if shape[1] < hp['K']:
        pytest.skip('gallery smaller than K')
    qg, gg = _data(sum(shape), *shape)
    got = similarity_inference(qg, gg, preset=preset)
    np.testing.assert_allclose(got, released_reference(qg, gg, **hp), rtol=0, atol=1e-6)


@pytest.mark.parametrize('preset', sorted(PRESETS))
def test_duplicate_distances(preset):
    """Duplicated gallery items: ties in the neighbour lists at every boundary."""
    qg, gg = _data(3, 10, 36, dup=12)
    hp = PRESETS[preset]
    got = similarity_inference(qg, gg, preset=preset)
    np.testing.assert_allclose(got, released_reference(qg, gg, **hp), rtol=0, atol=1e-6)
    rng = np.random.default_rng(0)  # coarse integer distances: ties everywhere
    qi = rng.integers(1, 5, (7, 30)).astype(np.float64)
    a = rng.integers(1, 5, (30, 30)).astype(np.float64)
    gi = np.triu(a, 1) + np.triu(a, 1).T
    got = similarity_inference(qi, gi, preset=preset)
    np.testing.assert_allclose(got, released_reference(qi, gi, **hp), rtol=0, atol=1e-6)


def test_small_hyper_parameters_and_ablations():
    qg, gg = _data(5, 8, 25)
    hp = dict(lam=0.5, K=3, k_q=4, k_g=5, alpha=0.4, n_graph=7)
    np.testing.assert_allclose(similarity_inference(qg, gg, **hp),
                               released_reference(qg, gg, **hp), rtol=0, atol=1e-6)
    for comp in ('graph', 'mutual'):
        np.testing.assert_allclose(similarity_inference(qg, gg, components=comp, **hp),
                                   released_reference(qg, gg, components=comp, **hp),
                                   rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        sim_graph_distance(qg, gg, lam=0.5, K=3, n_graph=7),
        _graph_only(qg, gg, 0.5, 3, 7), rtol=0, atol=1e-12)


def _graph_only(qg, gg, lam, K, n, sequential=True):
    d, orig = qg.copy(), qg.copy()
    for j in range(gg.shape[0]):
        nb = np.argsort(gg[j] * lam)[:n]
        src = d if sequential else orig
        d[:, j] = np.sort(src[:, nb] + lam * gg[j, nb], axis=1)[:, :K].mean(1)
    return d


def test_gallery_order_matters_and_is_followed():
    """Permuting the gallery changes the released result (not just its column order); ours
    changes identically when given the permuted inputs."""
    qg, gg = _data(7, 10, 30)
    hp = PRESETS['sysu_mm01']
    perm = np.random.default_rng(1).permutation(30)
    qp, gp = qg[:, perm], gg[np.ix_(perm, perm)]
    ref = released_reference(qg, gg, **hp)
    ref_p = released_reference(qp, gp, **hp)
    assert np.abs(ref_p - ref[:, perm]).max() > 1e-3  # order dependence of the released code
    np.testing.assert_allclose(similarity_inference(qp, gp, **hp), ref_p, rtol=0, atol=1e-6)
    # the column-independent variant does not depend on the order
    par = similarity_inference(qg, gg, graph_update='parallel', **hp)
    par_p = similarity_inference(qp, gp, graph_update='parallel', **hp)
    np.testing.assert_allclose(par_p, par[:, perm], rtol=0, atol=1e-6)
    np.testing.assert_allclose(par, released_reference(qg, gg, graph_update='parallel', **hp),
                               rtol=0, atol=1e-6)
    assert np.abs(par - ref).max() > 1e-3


def test_sequential_kernel_levels_and_blocks():
    """Long dependency chains (gallery sorted by identity), tiny blocks: still exact."""
    from asym_plugins.methods.sim import graph_inference as gi
    qg, gg = _data(11, 13, 80, n_ids=4)
    order = np.argsort(gg[0], kind='stable')  # a chain-friendly gallery order
    qg, gg = qg[:, order], gg[np.ix_(order, order)]
    ref = _graph_only(qg, gg, 0.1, 5, 20)
    T, B = gi.released_graph_neighbours(torch.from_numpy(gg), 0.1, 20, 1 << 20)
    levels = gi.dependency_levels(T)
    assert int(levels.max()) >= 5
    for budget in (1 << 10, 1 << 22):
        got = gi.sequential_graph_distance(torch.from_numpy(qg), T, B, 5, budget).numpy()
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def _map_r1(dist, q_ids, g_ids):
    aps, r1 = [], []
    for i in range(dist.shape[0]):
        order = np.argsort(dist[i], kind='stable')
        match = g_ids[order] == q_ids[i]
        if not match.any():
            continue
        hits = np.flatnonzero(match)
        aps.append(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))
        r1.append(match[0])
    return 100 * np.mean(aps), 100 * np.mean(r1)


def _id_data(seed, nq, ng, n_ids, dim=16):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids, dim))
    gid = np.arange(ng) % n_ids
    qid = rng.integers(0, n_ids, nq)
    g = centres[gid] + 0.9 * rng.standard_normal((ng, dim))
    q = centres[qid] + 1.0 * rng.standard_normal((nq, dim)) + 0.3
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    gg = _cdist(g, g)
    np.fill_diagonal(gg, 0.0)
    return _cdist(q, g), gg, qid, gid


def test_float16_switch_matches_released_evaluation_arithmetic():
    qg, gg, qid, gid = _id_data(2, 24, 48, 6)
    hp = PRESETS['sysu_mm01']
    got = similarity_inference(qg, gg, input_dtype='float16', **hp)
    ref = released_reference(qg, gg, half=True, **hp)
    assert np.abs(got - ref).max() <= 1e-6  # same ties rule: equal elements here
    m_got, m_ref = _map_r1(got, qid, gid), _map_r1(ref, qid, gid)
    assert abs(m_got[0] - m_ref[0]) <= 0.1 and abs(m_got[1] - m_ref[1]) <= 0.1
    # and float16 inputs really change the result (ties, rounding)
    assert np.abs(similarity_inference(qg, gg, **hp) - got).max() > 1e-4


# --------------------------------------------------------------------------------------------------
# inputs the released code mishandles: refused with a message saying what to pass (issue 21.5)
# --------------------------------------------------------------------------------------------------
def test_negative_distances_refused():
    """-cos ranks like 1 - cos, but squaring it does not: before the check, SIM silently
    returned different rankings for the two."""
    rng = np.random.default_rng(0)
    q = rng.standard_normal((6, 8))
    g = rng.standard_normal((20, 8))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    cos_qg, cos_gg = q @ g.T, g @ g.T
    with pytest.raises(ValueError, match=r'dist_qg has negative entries.*1 - cos'):
        similarity_inference(-cos_qg, -cos_gg)
    with pytest.raises(ValueError, match='dist_gg has negative entries'):
        similarity_inference(1 - cos_qg, -cos_gg)
    with pytest.raises(ValueError, match='negative'):
        similarity_inference(-cos_qg, 1 - cos_gg, mode='equations')
    # similarity=True: cosine similarities -> Euclidean distance of the normalised features
    euc_qg, euc_gg = _cdist(q, g), _cdist(g, g)
    np.fill_diagonal(euc_gg, 0.0)
    np.testing.assert_allclose(similarity_inference(cos_qg, cos_gg, similarity=True),
                               similarity_inference(euc_qg, euc_gg), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match='cosine similarities in'):
        similarity_inference(3 * cos_qg, cos_gg, similarity=True)
    # rounding noise below zero is accepted
    noisy = euc_gg.copy()
    noisy[0, 0] = -1e-9
    similarity_inference(euc_qg, noisy)


def test_overflow_prone_scales_refused():
    """Huge distances overflow the squares (all-NaN output before the check)."""
    qg, gg = _data(1, 5, 20)
    with pytest.raises(ValueError, match=r'dist_qg has entries up to .*common scale'):
        similarity_inference(qg * 1e30, gg * 1e30)
    with pytest.raises(ValueError, match='dist_gg has entries up to'):
        similarity_inference(qg, gg * 1e20)
    with pytest.raises(ValueError, match="float16"):
        similarity_inference(qg * 300, gg * 300, input_dtype='float16')
    # a common scale leaves the result unchanged, as the message says
    np.testing.assert_allclose(similarity_inference(qg * 1e3, gg * 1e3),
                               similarity_inference(qg, gg), rtol=0, atol=1e-6)


def test_option_validation():
    qg, gg = _data(1, 5, 20)
    for kw, msg in [(dict(graph_update='columns'), 'graph_update'),
                    (dict(ties='random'), 'ties'),
                    (dict(input_dtype='float32'), 'input_dtype'),
                    (dict(mode='equations', graph_update='parallel'), 'graph_update'),
                    (dict(mode='equations', input_dtype='float16'), 'input_dtype')]:
        with pytest.raises(ValueError, match=msg):
            similarity_inference(qg, gg, **kw)


# --------------------------------------------------------------------------------------------------
# the released file itself (a local copy named by ASYM_RELEASED_SIM; never part of this repository)
# --------------------------------------------------------------------------------------------------
def _released_module():
    path = os.environ.get('ASYM_RELEASED_SIM')
    if not path:
        pytest.skip('set ASYM_RELEASED_SIM to a local copy of the released '
                    'utils/relevancemetric.py')
    spec = importlib.util.spec_from_file_location('released_relevancemetric', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize('shape,dup', [((8, 12), 0), ((30, 19), 0), ((60, 90), 0),
                                       ((40, 120), 30), ((150, 400), 0)])
@pytest.mark.parametrize('preset', sorted(PRESETS))
def test_equals_released_file(shape, dup, preset):
    R = _released_module()
    hp = PRESETS[preset]
    qg, gg = _data(shape[0] + dup, *shape, dup=dup)
    exp = R.re_ranking(R.graph_reasoning(qg, gg, hp['lam'], hp['K']), gg, hp['k_q'], hp['k_g'],
                       6, hp['alpha'])
    got = similarity_inference(qg, gg, preset=preset)
    assert np.abs(got - exp).max() <= 1e-6
    for s in (0, 1):  # a permuted gallery: the released result changes, ours follows
        perm = np.random.default_rng(s).permutation(shape[1])
        qp, gp = qg[:, perm], gg[np.ix_(perm, perm)]
        exp_p = R.re_ranking(R.graph_reasoning(qp, gp, hp['lam'], hp['K']), gp, hp['k_q'],
                             hp['k_g'], 6, hp['alpha'])
        assert np.abs(similarity_inference(qp, gp, preset=preset) - exp_p).max() <= 1e-6


@pytest.mark.parametrize('preset', sorted(PRESETS))
def test_float16_equals_released_pipeline_metrics(preset):
    R = _released_module()
    hp = PRESETS[preset]
    qg, gg, qid, gid = _id_data(4, 300, 400, 40)
    q16, g16 = qg.astype(np.float16), gg.astype(np.float16)
    exp = R.re_ranking(R.graph_reasoning(q16, g16, hp['lam'], hp['K']), g16, hp['k_q'],
                       hp['k_g'], 6, hp['alpha'])
    got = similarity_inference(qg, gg, preset=preset, input_dtype='float16')
    m_exp, m_got = _map_r1(exp, qid, gid), _map_r1(got, qid, gid)
    assert abs(m_got[0] - m_exp[0]) <= 0.1 and abs(m_got[1] - m_exp[1]) <= 0.1
    assert np.abs(got - exp).max() <= 1e-6  # with numpy's own tie order, even the elements


def test_reranker_passes_the_new_options():
    from asym_plugins.methods.sim import SIMReranker
    qg, gg = _data(2, 6, 25)
    for kw in (dict(graph_update='parallel'), dict(input_dtype='float16'), dict(ties='stable')):
        out = SIMReranker(preset='regdb', **kw)(torch.from_numpy(qg), torch.from_numpy(gg))
        np.testing.assert_array_equal(out.numpy(), similarity_inference(qg, gg, preset='regdb',
                                                                        **kw))
    with pytest.raises(ValueError, match='graph_update'):
        SIMReranker(graph_update='random')


def test_two_threads_same_result_and_setting_restored():
    """Two query slices on worker threads give bit-identical results; torch's thread setting is
    put back."""
    qg, gg = _data(9, 31, 40)
    torch.set_num_threads(1)
    one = similarity_inference(qg, gg)
    torch.set_num_threads(2)
    two = similarity_inference(qg, gg)
    assert torch.get_num_threads() == 2
    np.testing.assert_array_equal(one, two)
    from asym_plugins.methods.sim import graph_inference as gi
    T, B = gi.released_graph_neighbours(torch.from_numpy(gg), 0.01, 20, 1 << 20)
    a = gi.sequential_graph_distance(torch.from_numpy(qg), T, B, 9, 1 << 20, workers=1)
    b = gi.sequential_graph_distance(torch.from_numpy(qg), T, B, 9, 1 << 20, workers=3)
    assert torch.equal(a, b)


def test_asymmetric_gallery_distances_use_columns():
    """A non-symmetric D_gg (e.g. cdist's last-bit asymmetry, or a learned metric): the graph
    step reads rows, the mutual-NN gallery side columns, as released; read without a copy."""
    qg, gg = _data(21, 9, 40)
    gg = gg + np.random.default_rng(3).uniform(0, 0.3, gg.shape)  # asymmetric, >= 0
    hp = PRESETS['sysu_mm01']
    ref = released_reference(qg, gg, **hp)
    np.testing.assert_allclose(similarity_inference(qg, gg, **hp), ref, rtol=0, atol=1e-6)
    # rows instead of columns would give another result: the test can tell them apart
    assert np.abs(released_reference(qg, gg.T.copy(), **hp) - ref).max() > 1e-3
    if os.environ.get('ASYM_RELEASED_SIM'):
        R = _released_module()
        exp = R.re_ranking(R.graph_reasoning(qg, gg, hp['lam'], hp['K']), gg, hp['k_q'],
                           hp['k_g'], 6, hp['alpha'])
        np.testing.assert_allclose(ref, exp, rtol=0, atol=1e-6)
