"""The compiled (numba) kernel of SIM's released sequential graph step equals a numpy loop of the
released update and the torch level-by-level path; a broken kernel falls back with a warning."""
import warnings

import numpy as np
import pytest
import torch
from conftest import require

from asym_plugins.methods.sim import _compiled
from asym_plugins.methods.sim import graph_inference as gi


def _released_loop(qg, gg, lam, K, n):
    """The released graph step written as a loop (docs/sim.md, Method 1): columns in index order,
    in place; stable argsort so that ties follow the index (our neighbour lists' default)."""
    d = qg.copy()
    for j in range(gg.shape[0]):
        nb = np.argsort(gg[j] * lam, kind='stable')[:n]
        d[:, j] = np.sort(d[:, nb] + lam * gg[j, nb], axis=1)[:, :K].mean(1)
    return d


def _data(seed, nq, ng, ties=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((nq + ng, 6))
    if ties:  # duplicated gallery items: equal distances and equal candidates
        x[nq + 1] = x[nq]
        x[nq + 3] = x[nq + 2]
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    return d[:nq, nq:].copy(), d[nq:, nq:].copy()


def _neighbours(gg, lam, n):
    T = torch.from_numpy(np.argsort(gg * lam, axis=1, kind='stable')[:, :n].copy())
    return T, torch.from_numpy(gg * lam).gather(1, T)


def _run_source(n, k, qg, T, B, half=False):
    """Execute the generated kernel source as plain Python (no numba involved)."""
    ns = {'np': np}
    exec(_compiled.kernel_source(n, k, half), ns)
    buf = np.ascontiguousarray(qg.T)
    m = qg.shape[0]
    ns['kernel'](buf, T.numpy(), B.numpy(), 0, m, np.empty(m, buf.dtype),
                 np.empty((n, m), buf.dtype))
    return buf.T


def _half_loop(qg, gg, lam, K, n):
    """The released graph step on float16 arrays, with numpy's float16 arithmetic."""
    d, A = qg.astype(np.float16), (gg.astype(np.float16) * np.float16(lam))
    for j in range(gg.shape[0]):
        nb = np.argsort(A[j], kind='stable')[:n]
        d[:, j] = np.sort(d[:, nb] + A[j, nb], axis=1)[:, :K].mean(1)
    return d.astype(np.float32)


def test_generated_selection_for_every_n_and_k():
    """Every (n, K) with n <= 20: the unrolled network sums exactly the K smallest candidates."""
    for n in range(1, 21):
        qg, gg = _data(n, 3, n + 2, ties=n > 4)
        for k in range(1, n + 1):
            T, B = _neighbours(gg, 0.3, n)
            got = _run_source(n, k, qg, T, B)
            np.testing.assert_allclose(got, _released_loop(qg, gg, 0.3, k, n), rtol=0,
                                       atol=1e-12, err_msg=f'n={n}, K={k}')


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('workers', [1, 2])
def test_compiled_equals_loop_and_torch_levels(dtype, workers, monkeypatch):
    require('numba')
    qg, gg = _data(3, 17, 90, ties=True)
    order = np.argsort(gg[0], kind='stable')  # long dependency chains
    qg, gg = qg[:, order], gg[np.ix_(order, order)]
    ref = _released_loop(qg, gg, 0.1, 9, 20)
    T, B = _neighbours(gg, 0.1, 20)
    q = torch.from_numpy(qg).to(dtype)
    assert _compiled.available()
    got = gi.sequential_graph_distance(q, T, B.to(dtype), 9, 1 << 20, workers=workers)
    monkeypatch.setenv('ASYM_SIM_NUMBA', '0')
    assert not _compiled.available()
    levels = gi.sequential_graph_distance(q, T, B.to(dtype), 9, 1 << 20, workers=workers)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=tol)
    np.testing.assert_allclose(got.numpy(), levels.numpy(), rtol=0, atol=tol)
    assert got.dtype == dtype


@pytest.mark.parametrize('scale', [40.0, 2e-5])  # several binades; float16 subnormals
def test_float16_kernel_follows_numpy_float16_arithmetic(scale, monkeypatch):
    """``half``: the compiled kernel and the generated source run as plain numpy (bit tricks for
    the float16 rounding) equal the torch level path (torch's own float16 conversion) bit for
    bit, and follow numpy's float16 loop."""
    require('numba')
    qg, gg = _data(9, 11, 60, ties=True)
    qg, gg = qg * scale, gg * scale
    lam, K, n = 0.01, 9, 20
    q16 = torch.from_numpy(qg.astype(np.float16).astype(np.float32))
    A = torch.from_numpy((gg.astype(np.float16) * np.float16(lam)).astype(np.float32))
    T = torch.from_numpy(np.argsort(A.numpy(), axis=1, kind='stable')[:, :n].copy())
    B = A.gather(1, T)
    ref = _half_loop(qg, gg, lam, K, n)
    src = _run_source(n, K, q16.numpy(), T, B, half=True)
    got = gi.sequential_graph_distance(q16, T, B, K, 1 << 20, half=True).numpy()
    monkeypatch.setenv('ASYM_SIM_NUMBA', '0')
    levels = gi.sequential_graph_distance(q16, T, B, K, 1 << 20, half=True).numpy()
    np.testing.assert_array_equal(got, levels)
    np.testing.assert_array_equal(got, src)
    assert np.abs(got - ref).max() <= 2 * np.spacing(np.float16(ref.max()))  # mean's sum order
    if scale < 1:
        assert (got[got > 0] < 6.1e-5).mean() > 0.3  # many results in the subnormal range
    assert (got == np.float32(np.float16(got))).all()  # float16 values


def test_broken_kernel_falls_back_with_a_warning(monkeypatch):
    require('numba')
    qg, gg = _data(5, 4, 30)
    T, B = _neighbours(gg, 0.1, 20)

    def broken(*args):
        raise RuntimeError('cache unreadable')

    monkeypatch.setattr(_compiled, 'sequential_columns', broken)
    monkeypatch.setattr(_compiled, '_DISABLED', [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        got = gi.sequential_graph_distance(torch.from_numpy(qg), T, B, 5, 1 << 20)
    assert any('compiled graph kernel failed' in str(w.message) for w in caught)
    assert not _compiled.available()
    np.testing.assert_allclose(got.numpy(), _released_loop(qg, gg, 0.1, 5, 20), rtol=0,
                               atol=1e-12)
