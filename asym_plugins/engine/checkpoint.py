"""Checkpoints that resume on torch >= 2.6 and that a kill cannot leave half-written.

* ``torch.load`` defaults to ``weights_only=True`` since torch 2.6, and MMEngine 0.10.7's
  checkpoints hold its ``HistoryBuffer`` (message hub, which also pickles bound statistics
  methods through ``getattr``) and numpy arrays/scalars, so ``--resume`` fails.
  ``PortableCheckpointHook`` (``asym_plugins.hooks``) writes the buffers as plain data, and
  :func:`allow_checkpoint_globals` adds exactly the data classes left to torch's allow-list
  (``torch.serialization.add_safe_globals``); everything else (``getattr`` included) stays
  refused.
* :class:`AtomicLocalBackend` (MMEngine file backend ``'atomic_local'``) writes to a temporary
  file in the same folder, fsyncs, then ``os.replace``-s it: a reader sees the old file or the
  new one, never a truncated one. Use it with
  ``default_hooks = dict(checkpoint=dict(type='CheckpointHook', backend_args=dict(backend='atomic_local')))``
  (our ``configs/_base_/default_runtime.py`` does).
"""
import codecs
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

    from asym_plugins.hooks.portable_checkpoint import PortableHistoryBuffer
    return [HistoryBuffer, PortableHistoryBuffer, codecs.encode] + _numpy_globals()


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


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's weights do not fit the model built from the config."""


def load_checkpoint_strict(runner, checkpoint: str, config_path: str = '') -> dict:
    """Load ``checkpoint`` into ``runner.model`` and refuse one of another model.

    MMEngine's Runner loads non-strictly (a checkpoint of another architecture only logs a
    warning and tests a random model); this raises :class:`CheckpointMismatchError` listing
    the missing, unexpected and mis-shaped keys instead.
    """
    from mmengine.model import is_model_wrapper
    from mmengine.runner.checkpoint import _load_checkpoint

    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f'{checkpoint!r} holds no state_dict.')
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    own = model.state_dict()
    state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items()}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state)
                   if hasattr(state[k], 'shape') and tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or shape:
        def show(keys):
            return ', '.join(keys[:5]) + (f' ... (+{len(keys) - 5})' if len(keys) > 5 else '')
        lines = [f'checkpoint {checkpoint!r} does not match the model of config '
                 f'{config_path or "(given)"}: was it trained with another config?']
        if missing:
            lines.append(f'  {len(missing)} missing keys: {show(missing)}')
        if unexpected:
            lines.append(f'  {len(unexpected)} unexpected keys: {show(unexpected)}')
        if shape:
            lines.append('  shape mismatch: ' + show(
                [f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}' for k in shape]))
        raise CheckpointMismatchError('\n'.join(lines))
    model.load_state_dict(state, strict=True)
    runner._has_loaded = True  # MMEngine's test() would otherwise load cfg.load_from again
    return ckpt
