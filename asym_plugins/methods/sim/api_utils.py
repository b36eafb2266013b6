"""Input/output plumbing shared by the SIM and k-reciprocal APIs (torch + numpy only)."""
from __future__ import annotations

import contextlib
import warnings
from typing import Sequence, Tuple

import numpy as np
import torch

__all__ = ['DEFAULT_CHUNK_SIZE', 'to_tensors', 'from_output', 'single_thread']

#: Default element budget of the largest dense temporary (2**22 floats = 16 MiB in float32).
DEFAULT_CHUNK_SIZE = 1 << 22


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach()
    elif isinstance(x, np.ndarray):
        arr = x if all(s >= 0 for s in x.strides) else np.ascontiguousarray(x)
        if arr.dtype.kind not in 'fiub':
            raise ValueError(f'{name} must hold real numbers, got dtype {arr.dtype}')
        with warnings.catch_warnings():  # read-only arrays (np.load mmap) are fine: never written
            warnings.simplefilter('ignore', UserWarning)
            t = torch.from_numpy(arr)  # shares memory, no copy
    else:
        raise ValueError(f'{name} must be a numpy array or a torch tensor, got {type(x).__name__}')
    if t.dim() != 2:
        raise ValueError(f'{name} must be a 2-D distance matrix, got shape {tuple(t.shape)}')
    if t.is_complex():
        raise ValueError(f'{name} must hold real numbers, got dtype {t.dtype}')
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t


def to_tensors(xs: Sequence, names: Sequence[str], device=None) -> Tuple[list, tuple]:
    """Convert distance matrices to tensors on one device and a common float dtype.

    Returns ``(tensors, like)`` where ``like`` describes how to return results:
    ``('numpy', None)`` when the first input is a numpy array, else ``('torch', device)``.
    ``None`` entries are passed through.
    """
    ts = [None if x is None else _as_tensor(x, n) for x, n in zip(xs, names)]
    first = xs[0]
    like = ('numpy', None) if isinstance(first, np.ndarray) else ('torch', ts[0].device)
    dev = torch.device(device) if device is not None else ts[0].device
    dtype = torch.float64 if any(t is not None and t.dtype == torch.float64 for t in ts) \
        else torch.float32
    ts = [None if t is None else t.to(device=dev, dtype=dtype) for t in ts]
    return ts, like


def from_output(out: torch.Tensor, like: tuple):
    """Return ``out`` as numpy (for numpy inputs) or as a tensor on the input device."""
    kind, dev = like
    if kind == 'numpy':
        return out.cpu().numpy()
    return out.to(dev)


@contextlib.contextmanager
def single_thread():
    """Run the enclosed torch CPU ops with one intra-op thread (restored afterwards).

    For kernels made of many small elementwise ops: a second thread only adds
    synchronisation, and on a busy machine it waits for a core (measured in
    ``tools/benchmarks/bench_rerank.py``: 2 threads beside a background load were several times
    slower than 1 thread)."""
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
