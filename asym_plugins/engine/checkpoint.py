"""Checkpoints that resume on torch >= 2.6 and that a kill cannot leave half-written.

* ``torch.load`` defaults to ``weights_only=True`` since torch 2.6, and MMEngine 0.10.7's
  checkpoints hold its ``HistoryBuffer`` (message hub) and numpy arrays/scalars, so
  ``--resume`` fails. :func:`allow_checkpoint_globals` adds exactly those classes to torch's
  allow-list (``torch.serialization.add_safe_globals``); everything else stays refused.
* :class:`AtomicLocalBackend` (MMEngine file backend ``'atomic_local'``) writes to a temporary
  file in the same folder, fsyncs, then ``os.replace``-s it: a reader sees the old file or the
  new one, never a truncated one. Use it with
  ``default_hooks = dict(checkpoint=dict(type='CheckpointHook', backend_args=dict(backend='atomic_local')))``
  (our ``configs/_base_/default_runtime.py`` does).
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

import numpy as np
import torch
from mmengine.fileio.backends import LocalBackend, register_backend


def _numpy_globals():
    """numpy types that appear in pickled arrays/scalars (names moved in numpy 2)."""
    out = [np.ndarray, np.dtype]
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    out += [_reconstruct, scalar]
    for name in ('Float64DType', 'Float32DType', 'Int64DType', 'Int32DType', 'BoolDType',
                 'UInt8DType', 'Float16DType'):
        dt = getattr(np.dtypes, name, None) if hasattr(np, 'dtypes') else None
        if dt is not None:
            out.append(dt)
    return out


def checkpoint_safe_globals() -> list:
    """The classes an MMEngine checkpoint of this package needs beyond tensors and builtins."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.config import ConfigDict
    return [HistoryBuffer, ConfigDict] + _numpy_globals()


def allow_checkpoint_globals() -> None:
    """Allow-list our checkpoints' classes for ``torch.load(weights_only=True)`` (idempotent)."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 loads everything anyway
        add(checkpoint_safe_globals())


def _atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    filepath = str(filepath)
    folder = osp.dirname(osp.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(filepath) + '.', suffix='.tmp',
                               dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend with atomic ``put``/``put_text`` (temp file + rename)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        _atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        _atomic_write(obj.encode(encoding), filepath)


register_backend('atomic_local', AtomicLocalBackend, force=True)
allow_checkpoint_globals()
