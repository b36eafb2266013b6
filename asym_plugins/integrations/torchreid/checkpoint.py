"""Checkpoint loading for torchreid on torch >= 2.6 (upstream torchreid issue 592).

torchreid's ``Engine.save_model`` stores ``rank1`` as a numpy scalar, and since torch 2.6
``torch.load`` defaults to ``weights_only=True``, which refuses numpy objects: torchreid's own
``load_checkpoint`` (and ``resume_from_checkpoint`` / ``load_pretrained_weights`` through it)
cannot read the checkpoints torchreid writes. :func:`load_checkpoint` keeps ``weights_only=True``
and allow-lists exactly the numpy scalar/array/dtype reconstructors (nothing that could run
code); ``weights_only=False`` is available for files you trust, never taken silently.

:func:`install` points torchreid's ``utils.torchtools.load_checkpoint`` (and the re-export in
``utils``) to this one, so its ``resume_from_checkpoint`` and ``load_pretrained_weights`` work
again; ``register_all`` does it.

Examples::
    >>> from asym_plugins.integrations.torchreid.checkpoint import load_checkpoint
    >>> ckpt = load_checkpoint('log/model/model.pth.tar-60')
    >>> model.load_state_dict(ckpt['state_dict'])
"""
import contextlib
import os
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Union

import torch

from asym_plugins.engine.checkpoint import _numpy_globals

from . import compat

__all__ = ['load_checkpoint', 'resume_from_checkpoint', 'load_pretrained_weights',
           'to_mmengine_state_dict', 'torchreid_to_mmengine', 'install', 'uninstall',
           'is_installed']

_ORIGINAL_ATTR = '_asym_original_load_checkpoint'


def _safe_globals() -> list:
    return _numpy_globals()


def to_mmengine_state_dict(state_dict: Mapping[str, torch.Tensor]
                           ) -> 'OrderedDict[str, torch.Tensor]':
    """torchreid model state dict -> the equivalent MMEngine model's: keys are shared (the
    torchreid views of :mod:`.models` adopt the MMEngine model's submodules), so this only
    strips the ``module.`` prefix that DataParallel / torchreid's checkpoints may carry."""
    return OrderedDict((k[7:] if k.startswith('module.') else k, v)
                       for k, v in state_dict.items())


@contextlib.contextmanager
def _allow_numpy():
    """Allow the numpy reconstructors for the duration of a load. Only the missing ones are
    added: torch's ``safe_globals`` context removes on exit what it added, even entries that
    were allow-listed before (asym_plugins allow-lists them package-wide at import)."""
    get = getattr(torch.serialization, 'get_safe_globals', None)
    allowed = get() if get is not None else []
    missing = [g for g in _safe_globals() if g not in allowed]
    ctx = getattr(torch.serialization, 'safe_globals', None)
    if not missing:
        yield
    elif ctx is None:  # torch 2.4: no context manager; allow-list globally (idempotent)
        torch.serialization.add_safe_globals(missing)
        yield
    else:
        with ctx(missing):
            yield


def load_checkpoint(fpath: Union[str, os.PathLike], map_location: Any = None,
                    weights_only: bool = True) -> Dict[str, Any]:
    """Load a torchreid (or any torch) checkpoint; a drop-in for torchreid's
    ``utils.load_checkpoint`` that works on torch >= 2.6.

    Args:
        fpath: checkpoint path.
        map_location: as ``torch.load``; default CPU when CUDA is unavailable (torchreid's rule).
        weights_only: keep True (tensors, containers, numpy scalars/arrays only). Set False
            only for files you trust: it runs arbitrary pickled code.

    Python-2 pickles (``UnicodeDecodeError``) are retried with ``encoding='latin1'``.
    """
    if fpath is None:
        raise ValueError('load_checkpoint: the checkpoint path is None.')
    path = osp.abspath(osp.expanduser(str(fpath)))
    if not osp.isfile(path):
        raise FileNotFoundError(f'load_checkpoint: {path!r} does not exist.')
    if map_location is None and not torch.cuda.is_available():
        map_location = 'cpu'
    try:
        with _allow_numpy():
            try:
                return torch.load(path, map_location=map_location, weights_only=weights_only)
            except UnicodeDecodeError:
                return torch.load(path, map_location=map_location, weights_only=weights_only,
                                  encoding='latin1')
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(
            f'load_checkpoint: {path!r} holds objects outside the safe allow-list (tensors, '
            f'containers, numpy scalars/arrays): {str(e).splitlines()[-1] if str(e) else e}. '
            f'If you trust the file, call load_checkpoint(path, weights_only=False).') from e


def resume_from_checkpoint(fpath, model, optimizer=None, scheduler=None) -> int:
    """torchreid's ``resume_from_checkpoint`` on :func:`load_checkpoint`: restores the model,
    optimizer and scheduler states and returns the epoch to start from."""
    ckpt = load_checkpoint(fpath)
    model.load_state_dict(ckpt['state_dict'])
    if optimizer is not None and ckpt.get('optimizer') is not None:
        optimizer.load_state_dict(ckpt['optimizer'])
    if scheduler is not None and ckpt.get('scheduler') is not None:
        scheduler.load_state_dict(ckpt['scheduler'])
    print(f'Resumed from {fpath!r}: epoch {ckpt.get("epoch")}, rank1 {ckpt.get("rank1")}')
    return int(ckpt.get('epoch', 0))


def load_pretrained_weights(model: torch.nn.Module, weight_path: str) -> Dict[str, list]:
    """Load the matching entries (same name and shape; ``module.`` stripped) of a checkpoint
    into ``model``; returns ``dict(loaded=[...], skipped=[...])`` and prints a summary."""
    ckpt = load_checkpoint(weight_path)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    own = model.state_dict()
    matched, skipped = OrderedDict(), []
    for k, v in state.items():
        k = k[7:] if k.startswith('module.') else k
        if k in own and hasattr(v, 'shape') and own[k].shape == v.shape:
            matched[k] = v
        else:
            skipped.append(k)
    if not matched:
        raise ValueError(f'load_pretrained_weights: no key of {weight_path!r} matches the model '
                         f'(first checkpoint keys: {list(state)[:5]}).')
    own.update(matched)
    model.load_state_dict(own)
    print(f'Loaded {len(matched)} tensors from {weight_path!r}; skipped {len(skipped)} '
          f'(name or shape mismatch): {skipped[:10]}')
    return dict(loaded=list(matched), skipped=skipped)


def torchreid_to_mmengine(src: str, dst: str, meta: Optional[dict] = None) -> str:
    """Write torchreid checkpoint ``src`` as an MMEngine checkpoint ``dst``
    (``{'state_dict', 'meta'}``; our models share their keys in both toolboxes, so only a
    ``module.`` prefix is stripped), without optimizer state or numpy scalars. (With
    ``asym_plugins`` imported, ``tools/test.py`` also reads ``src`` itself.)"""
    ckpt = load_checkpoint(src, map_location='cpu')
    state = to_mmengine_state_dict(ckpt.get('state_dict', ckpt))
    info = dict(meta or {}, source=osp.abspath(src), epoch=int(ckpt.get('epoch', 0)))
    if ckpt.get('rank1') is not None:
        info['rank1'] = float(ckpt['rank1'])
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(state_dict=state, meta=info), dst)
    return dst


def _targets():
    mods = [compat.torchreid_module('utils.torchtools'), compat.torchreid_module('utils')]
    return mods


def is_installed() -> bool:
    return all(getattr(m, 'load_checkpoint', None) is load_checkpoint for m in _targets())


def install() -> None:
    """Route torchreid's ``load_checkpoint`` (and so its ``resume_from_checkpoint`` and
    ``load_pretrained_weights``) through :func:`load_checkpoint`. Idempotent."""
    for mod in _targets():
        current = getattr(mod, 'load_checkpoint', None)
        if current is load_checkpoint:
            continue
        setattr(mod, _ORIGINAL_ATTR, current)
        mod.load_checkpoint = load_checkpoint


def uninstall() -> None:
    for mod in _targets():
        original = getattr(mod, _ORIGINAL_ATTR, None)
        if original is not None:
            mod.load_checkpoint = original
            delattr(mod, _ORIGINAL_ATTR)
