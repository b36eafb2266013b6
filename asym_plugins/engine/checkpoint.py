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
  ``default_hooks = dict(checkpoint=dict(type='CheckpointHook',
  backend_args=dict(backend='atomic_local')))``
  (our ``configs/_base_/default_runtime.py`` does). Files get the permissions of a plain
  ``open``/``torch.save`` (``0o666`` minus the umask), and a ``.pth`` gets a sidecar
  ``<name>.pth.sha256`` (``sha256sum -c`` format) written after it.
* Loading a local checkpoint (MMEngine's loader for plain paths, replaced here) checks the
  file first (:func:`checkpoint_problem`): empty, not a torch file, or a sha256 that differs
  from the sidecar's raise :class:`CheckpointFileError` naming the file.
* :func:`check_resume_compatible`: ``--resume`` loads strictly (model keys and shapes,
  optimizer groups, model-config fingerprint; see ``PortableCheckpointHook``).
"""
import codecs
import hashlib
import json
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.runner.checkpoint import CheckpointLoader

from .cli import UserError


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


SIDECAR = '.sha256'


def _write_replace(data: bytes, filepath: str) -> None:
    folder = osp.dirname(osp.abspath(filepath))
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(filepath) + '.', suffix='.tmp',
                               dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp creates 0600; torch.save would not
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def _atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` atomically; a ``.pth`` also gets its sha256 sidecar."""
    filepath = str(filepath)
    os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
    _write_replace(data, filepath)
    if filepath.endswith('.pth'):
        digest = hashlib.sha256(data).hexdigest()
        _write_replace(f'{digest}  {osp.basename(filepath)}\n'.encode(), filepath + SIDECAR)


class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend with atomic ``put``/``put_text`` (temp file + rename)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        _atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        _atomic_write(obj.encode(encoding), filepath)


register_backend('atomic_local', AtomicLocalBackend, force=True)
allow_checkpoint_globals()


class CheckpointFileError(UserError, RuntimeError):
    """A checkpoint file that is empty, not a torch file, or damaged."""


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a loadable checkpoint (None when it looks fine): missing, empty,
    not a torch file (zip or pickle), or its sha256 differs from the ``.sha256`` sidecar."""
    if not osp.isfile(path):
        return 'does not exist'
    size = osp.getsize(path)
    if size == 0:
        return 'is empty (0 bytes; a write was interrupted?)'
    with open(path, 'rb') as f:
        head = f.read(8)
    if not (head.startswith(b'PK\x03\x04') or head[:1] == b'\x80'):
        return (f'is not a PyTorch checkpoint (it starts with {head!r}; torch files are zip '
                'archives or pickles)')
    sidecar = path + SIDECAR
    if osp.isfile(sidecar):
        with open(sidecar, 'r', encoding='utf-8', errors='replace') as f:
            want = (f.read().split() or [''])[0].lower()
        got = _sha256_file(path)
        if want != got:
            return (f'is damaged: its sha256 {got[:16]}... differs from {want[:16]!r}... '
                    f'recorded in {osp.basename(sidecar)} when it was saved')
    return None


_LOCAL_LOADER = CheckpointLoader._schemes.get('')


def load_from_verified_local(filename, map_location=None):
    """MMEngine's local checkpoint loader, after :func:`checkpoint_problem` found nothing."""
    path = osp.expanduser(filename)
    problem = checkpoint_problem(path)
    if problem == 'does not exist':
        raise CheckpointFileError(f'checkpoint {filename!r} does not exist.')
    if problem is not None:
        raise CheckpointFileError(
            f'checkpoint {filename!r} {problem}. Use another checkpoint (e.g. an earlier '
            'epoch_N.pth of the same work dir) or train again.')
    return _LOCAL_LOADER(path, map_location)


if getattr(_LOCAL_LOADER, '__name__', 'load_from_verified_local') != 'load_from_verified_local':
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_verified_local, force=True)


# -- strict resume --------------------------------------------------------------------------
_NOT_ARCHITECTURE = ('init_cfg', 'pretrained')


def _plain(node):
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items() if k not in _NOT_ARCHITECTURE}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node if isinstance(node, (int, float, str, bool, type(None))) else repr(node)


def model_config_text(model_cfg) -> str:
    """The model config as canonical JSON, without ``init_cfg``/``pretrained`` (which only say
    where the first weights come from)."""
    if hasattr(model_cfg, 'to_dict'):
        model_cfg = model_cfg.to_dict()
    return json.dumps(_plain(model_cfg), sort_keys=True)


def model_fingerprint(model_cfg) -> str:
    """sha256 of :func:`model_config_text` (stored in checkpoint meta as
    ``asym_model_fingerprint``)."""
    return hashlib.sha256(model_config_text(model_cfg).encode()).hexdigest()


def _config_diff(old, new, path='model') -> list:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            sub = f'{path}.{k}'
            if k not in old:
                out.append(f'{sub} (new: {new[k]!r})')
            elif k not in new:
                out.append(f'{sub} (removed; was {old[k]!r})')
            else:
                out += _config_diff(old[k], new[k], sub)
        return out
    return [] if old == new else [f'{path}: {old!r} -> {new!r}']


def _show(keys, n=8):
    return ', '.join(keys[:n]) + (f' ... and {len(keys) - n} more' if len(keys) > n else '')


def check_resume_compatible(checkpoint: dict, model, optimizer=None, model_cfg=None,
                            source: str = 'the checkpoint') -> None:
    """Refuse to resume from ``checkpoint`` into ``model`` / ``optimizer`` unless they match.

    Checks, in this order, and raises :class:`CheckpointMismatchError` listing every
    difference: model state keys (missing / unexpected) and shapes; the optimizer's parameter
    groups (count and parameters per group); the model-config fingerprint saved in the meta by
    ``PortableCheckpointHook`` (differing config keys listed; absent in checkpoints of other
    tools, then skipped).
    """
    state = checkpoint.get('state_dict', {})
    state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items()}
    own = model.state_dict()
    lines = []
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state)
                   if hasattr(state[k], 'shape') and tuple(state[k].shape) != tuple(own[k].shape))
    if missing:
        lines.append(f'  {len(missing)} model keys missing from the checkpoint: {_show(missing)}')
    if unexpected:
        lines.append(f'  {len(unexpected)} checkpoint keys the model does not have: '
                     f'{_show(unexpected)}')
    if shape:
        lines.append('  shapes differ (checkpoint vs model): ' + _show(
            [f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}' for k in shape]))
    saved_opt = checkpoint.get('optimizer')
    if optimizer is not None and isinstance(saved_opt, dict) and 'param_groups' in saved_opt:
        have = [len(g['params']) for g in optimizer.param_groups]
        want = [len(g['params']) for g in saved_opt['param_groups']]
        if have != want:
            lines.append(f'  optimizer parameter groups differ: the checkpoint has {len(want)} '
                         f'group(s) of {want} parameters, this config builds {len(have)} of '
                         f'{have} (optimizer or paramwise_cfg changed?)')
    meta = checkpoint.get('meta') or {}
    if model_cfg is not None and meta.get('asym_model_fingerprint'):
        if meta['asym_model_fingerprint'] != model_fingerprint(model_cfg):
            try:
                diff = _config_diff(json.loads(meta.get('asym_model_cfg', '{}')),
                                    json.loads(model_config_text(model_cfg)))
            except ValueError:
                diff = []
            lines.append('  the model config differs from the one the checkpoint was trained '
                         'with: ' + (_show(diff) if diff else '(fingerprint only)'))
    if lines:
        raise CheckpointMismatchError(
            f'cannot resume from {source}: it does not fit the model/optimizer of this config.\n'
            + '\n'.join(lines) + '\nResume with the config the run was started with, or '
            'start a new run in another --work-dir (load_from=CKPT fine-tunes from its '
            'weights without resuming).')


class CheckpointMismatchError(UserError, RuntimeError):
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
