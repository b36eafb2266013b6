"""Compiled CPU kernel of the released sequential graph step (numba; optional).

:func:`sequential_columns` runs the released in-place column update (docs/sim.md, "Method" 1) in
gallery-index order for a slice of the queries, in place on ``D_qg`` transposed (as the released
code updates its array in place), with the ``K``-smallest selection of
:func:`._kernels.kmin_sum_plan` unrolled into scalar min/max operations, so that the loop over
queries vectorises (SIMD) and nothing but the ``(Ng, Nq)`` working buffer is held. The kernel source
is generated once per ``(n, K)`` and written to a cache folder (``ASYM_NUMBA_CACHE``, default
``~/.cache/asym_plugins/numba``), where numba also keeps the machine code, so only the first
call on a machine compiles (a few seconds).

Without numba (``pip install numba``; it is in the ``[all]`` extra), or with
``ASYM_SIM_NUMBA=0``, :func:`available` is False and the torch path is used; both give the same
values (only the order of the K additions differs: last-bit differences).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import os.path as osp
import sys
import tempfile
import warnings
from typing import Callable, List, Optional

import numpy as np

from ._kernels import kmin_sum_plan

__all__ = ['available', 'disable', 'sequential_columns', 'kernel_source']

_VERSION = 3


_DISABLED: List[str] = []


def available() -> bool:
    """numba importable, not switched off with ``ASYM_SIM_NUMBA=0`` and not failed before."""
    if _DISABLED or os.environ.get('ASYM_SIM_NUMBA', '1') == '0':
        return False
    return importlib.util.find_spec('numba') is not None


def disable(error: BaseException) -> None:
    """Stop using the kernel in this process (warns once with the reason)."""
    if not _DISABLED:
        warnings.warn(f'SIM: the compiled graph kernel failed ({type(error).__name__}: {error}); '
                      'using the torch path (same results, slower). Set ASYM_SIM_NUMBA=0 to '
                      'silence this, or clear the cache folder ' + _cache_dir(), stacklevel=3)
    _DISABLED.append(repr(error))


def _padded(names: List[Optional[str]]) -> List[Optional[str]]:
    size = 1
    while size < len(names):
        size *= 2
    return list(names) + [None] * (size - len(names))


def _network(wires: List[Optional[str]], ops, indent: str) -> List[str]:
    """Source lines of a comparator network on scalar variables (``swap`` = renaming)."""
    lines = []
    for kind, u, v in ops:
        a, b = wires[u], wires[v]
        if kind == 'swap':
            wires[u], wires[v] = b, a
        elif kind == 'both':
            lines.append(f'{indent}{a}, {b} = ({a} if {a} < {b} else {b}), '
                         f'({b} if {a} < {b} else {a})')
        elif kind == 'min':
            lines.append(f'{indent}{a} = {a} if {a} < {b} else {b}')
        else:
            lines.append(f'{indent}{b} = {b} if {a} < {b} else {a}')
    return lines


def kernel_source(n: int, k: int, half: bool = False) -> str:
    """Python source of ``kernel(buf, T, B, q0, q1, tmp, C)`` for ``n`` candidates, ``K = k``.

    ``buf``: ``(Ng, Nq)``, ``D_qg`` transposed (row ``t`` = column ``t``), updated in place like
    the released array: column ``j`` of queries ``q0:q1`` becomes (sum of the k smallest of
    ``buf[T[j, s], i] + B[j, s]``) / k, for ``j = 0 .. Ng-1`` in order, so a neighbour ``t < j``
    is read already updated and ``t >= j`` (``j`` itself included) as given. ``tmp``: scratch of
    at least ``q1 - q0`` values (results go there first, then into row ``j``: no aliasing between
    the row written and the rows read, so the loop over queries vectorises).

    ``half`` (float32 arrays holding float16 values, the released evaluation scripts): every
    candidate sum is rounded to float16, the K-sum is taken in float32, divided by K in float32
    and rounded to float16, as numpy's float16 ``+`` and ``mean`` do. The candidates then go
    through the float32 scratch ``C`` (``(n, >= q1 - q0)``), rounded in two vectorised passes:
    below 2^-14 (float16 subnormals) to the 2^-24 grid by ``(v + 0.5) - 0.5`` in float32, then
    the float32 bits to 10 mantissa bits, ties to even (non-negative finite values).
    """
    plan = kmin_sum_plan(n, k)
    body = '            '
    lines = ['def kernel(buf, T, B, q0, q1, tmp, C):', '    m = q1 - q0']
    if half:
        lines += ['    kf = np.float32(%d)' % k, '    half_c = np.float32(0.5)',
                  '    sub = np.float32(6.103515625e-05)', '    Cu = C.view(np.uint32)',
                  '    tu = tmp.view(np.uint32)', '    r0 = np.uint32(0xFFF)',
                  '    r1 = np.uint32(1)', '    r13 = np.uint32(13)',
                  '    mask = np.uint32(0xFFFFE000)']
    else:
        lines += [f'    kf = {k}']
    lines += ['    for j in range(T.shape[0]):']

    def round_half(arr, arr_u, indent):
        return [f'{indent}for i in range(m):',
                f'{indent}    v = {arr}[i]',
                f'{indent}    {arr}[i] = (v + half_c) - half_c if v < sub else v',
                f'{indent}for i in range(m):',
                f'{indent}    u = {arr_u}[i]',
                f'{indent}    {arr_u}[i] = (u + r0 + ((u >> r13) & r1)) & mask']

    if half:
        lines += ['        for s in range(%d):' % n,
                  '            xs = buf[T[j, s], q0:q1]', '            bs = B[j, s]',
                  '            c = C[s]', '            for i in range(m):',
                  '                c[i] = xs[i] + bs',
                  '            c = C[s]', '            cu = Cu[s]']
        lines += round_half('c', 'cu', '            ')
        lines += [f'        x{s} = C[{s}]' for s in range(n)]
        lines += ['        for i in range(m):']
        lines += [f'{body}w{s} = x{s}[i]' for s in range(n)]
    else:
        lines += [f'        x{s} = buf[T[j, {s}], q0:q1]' for s in range(n)]
        lines += [f'        b{s} = B[j, {s}]' for s in range(n)]
        lines += ['        for i in range(m):']
        lines += [f'{body}w{s} = x{s}[i] + b{s}' for s in range(n)]
    names: List[Optional[str]] = [f'w{s}' for s in range(n)]
    if plan[0] == 'single':
        wires = _padded(names)
        lines += _network(wires, plan[1], body)
        terms = [w for w in wires[:k]]
    else:  # k smallest of the union of two sorted halves: min(A[s], B[k-1-s])
        _, n1, ops_a, ops_b = plan
        wa, wb = _padded(names[:n1]), _padded(names[n1:])
        lines += _network(wa, ops_a, body)
        lines += _network(wb, ops_b, body)
        ka, kb = min(k, n1), min(k, n - n1)
        terms = []
        for s in range(k):
            a = wa[s] if s < ka else None
            b = wb[k - 1 - s] if k - 1 - s < kb else None
            terms.append(f'({a} if {a} < {b} else {b})' if a and b else (a or b))
    lines.append(f'{body}tmp[i] = ({" + ".join(terms)}) / kf')
    if half:
        lines += round_half('tmp', 'tu', '        ')
    lines.append('        buf[j, q0:q1] = tmp[:m]')
    return '\n'.join(lines) + '\n'


def _cache_dir() -> str:
    root = os.environ.get('ASYM_NUMBA_CACHE') or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache'),
        'asym_plugins', 'numba')
    try:
        os.makedirs(root, exist_ok=True)
        if os.access(root, os.W_OK):
            return root
    except OSError:
        pass
    return tempfile.mkdtemp(prefix='asym_numba_')


@functools.lru_cache(maxsize=64)
def _kernel(n: int, k: int, half: bool = False) -> Callable:
    import numba
    src = ('import numba\nimport numpy as np\n\n\n'
           "@numba.njit(cache=True, nogil=True, error_model='numpy')\n"
           + kernel_source(n, k, half))
    tag = hashlib.sha1(src.encode()).hexdigest()[:10]
    name = f'sim_seq_n{n}_k{k}{"_f16" if half else ""}_v{_VERSION}_{tag}'
    path = osp.join(_cache_dir(), name + '.py')
    if not osp.isfile(path):
        fd, tmp = tempfile.mkstemp(dir=osp.dirname(path), suffix='.tmp')
        with os.fdopen(fd, 'w') as f:
            f.write(src)
        os.replace(tmp, path)  # atomic: concurrent processes write the same text
    module = sys.modules.get(name)
    if module is None:  # a top-level module of its own: numba's cache finds it again
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    assert isinstance(module.kernel, numba.core.registry.CPUDispatcher)
    return module.kernel


def sequential_columns(buf, T, B, K: int, half: bool, q0: int, q1: int) -> None:
    """Run the compiled kernel on numpy arrays ``buf`` (updated in place), ``T``, ``B`` (see
    :func:`kernel_source`); releases the GIL, so query slices can run in threads."""
    m = max(q1 - q0, 1)
    tmp = np.empty(m, dtype=buf.dtype)
    scratch = np.empty((T.shape[1], m) if half else (1, 1), dtype=buf.dtype)
    _kernel(int(T.shape[1]), int(K), bool(half))(buf, T, B, q0, q1, tmp, scratch)
