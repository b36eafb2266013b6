"""Checkpoint hooks: portable (``weights_only``-loadable) checkpoints, strict resume, random
states carried over a resume, and keep-last-N that deletes an old checkpoint only once the new
one is in place."""
import os
import os.path as osp
import random
import re

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import HistoryBuffer, print_log

from asym_plugins.registry import HOOKS


class PortableHistoryBuffer(HistoryBuffer):
    """A :class:`HistoryBuffer` that pickles as plain data.

    MMEngine's ``HistoryBuffer.__getstate__`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'min')`` & co, which ``weights_only`` unpickling refuses (and
    allow-listing ``getattr`` would open the door to far more). The methods are class-level
    and re-registered on unpickling (``__setstate__`` calls ``_set_default_statistics``), so
    this subclass simply leaves them out.
    """

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop('statistics_methods', None)
        return state

    @classmethod
    def from_buffer(cls, buf: HistoryBuffer) -> 'PortableHistoryBuffer':
        new = cls.__new__(cls)
        new.__setstate__({k: v for k, v in buf.__dict__.items() if k != 'statistics_methods'})
        return new


@HOOKS.register_module()
class PortableCheckpointHook(Hook):
    """Before a checkpoint is written, turn the message hub's history buffers into
    :class:`PortableHistoryBuffer` so that ``--resume`` works under ``weights_only`` loading,
    and store the model-config fingerprint in its meta (``asym_model_fingerprint``,
    ``asym_model_cfg``). When a run resumes, the loaded checkpoint is checked before any
    weight is copied: model keys and shapes, optimizer groups and the fingerprint must match
    (:func:`asym_plugins.engine.checkpoint.check_resume_compatible`), else the run stops with
    the differences listed.

    It also saves the python / numpy / torch random states (``asym_rng_state``) and restores
    them on resume, so random augmentation, masking, dropout and SAP's supervision drop draw
    the stream an uninterrupted run would have drawn (exactly so when no validation runs
    between the checkpoint and the next epoch, and without persistent data-loader workers,
    whose own states are not in the checkpoint).

    ``tools/train.py`` adds this hook when a config lacks it; other training scripts add
    ``custom_hooks = [dict(type='PortableCheckpointHook')]``.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model_cfg = (getattr(runner, 'cfg', None) or {}).get('model')
        if model_cfg is not None:
            from asym_plugins.engine.checkpoint import model_config_text, model_fingerprint
            meta = checkpoint.setdefault('meta', {})
            meta['asym_model_fingerprint'] = model_fingerprint(model_cfg)
            meta['asym_model_cfg'] = model_config_text(model_cfg)
        checkpoint[RNG_KEY] = rng_state()
        hub = checkpoint.get('message_hub')
        if not isinstance(hub, dict) or 'log_scalars' not in hub:
            return
        hub['log_scalars'] = {
            k: PortableHistoryBuffer.from_buffer(v) if isinstance(v, HistoryBuffer) else v
            for k, v in hub['log_scalars'].items()}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return   # load_from: weights only, MMEngine's (non-strict) rules
        from mmengine.model import is_model_wrapper

        from asym_plugins.engine.checkpoint import check_resume_compatible
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        optim = getattr(runner, 'optim_wrapper', None)
        optimizer = getattr(optim, 'optimizer', None)
        if optimizer is not None and not hasattr(optimizer, 'param_groups'):
            optimizer = None
        check_resume_compatible(checkpoint, model, optimizer,
                                model_cfg=(getattr(runner, 'cfg', None) or {}).get('model'),
                                source=repr(getattr(runner, '_load_from', None) or
                                            'the checkpoint'))
        if RNG_KEY in checkpoint:
            set_rng_state(checkpoint[RNG_KEY])


RNG_KEY = 'asym_rng_state'


def rng_state() -> dict:
    """The python, numpy, torch (CPU and every CUDA device) random states as plain tensors,
    ints and floats (loadable with ``weights_only=True``)."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(python_version=int(version), python_mt=torch.tensor(mt, dtype=torch.int64),
                 python_gauss=gauss, numpy_name=str(name),
                 numpy_keys=torch.from_numpy(keys.astype(np.int64)), numpy_pos=int(pos),
                 numpy_has_gauss=int(has_gauss), numpy_cached=float(cached),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` saved (CUDA states only when the devices match)."""
    random.setstate((state['python_version'], tuple(state['python_mt'].tolist()),
                     state['python_gauss']))
    np.random.set_state((state['numpy_name'], state['numpy_keys'].numpy().astype(np.uint32),
                         state['numpy_pos'], state['numpy_has_gauss'], state['numpy_cached']))
    torch.set_rng_state(state['torch'])
    cuda = state.get('cuda')
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook`` with a safe keep-last-N and a portable ``last_checkpoint``.

    * ``max_keep_ckpts=N``: the older checkpoints (and their ``.sha256`` sidecars) are deleted
      only after the new one is written; MMEngine deletes first, so a kill during the save
      could leave no checkpoint at all.
    * ``last_checkpoint`` holds the file name relative to the work dir (a copied work dir
      resumes from its own files) and is written atomically.

    ``tools/train.py`` uses it in place of ``CheckpointHook`` (same arguments).
    """

    def __init__(self, *args, max_keep_ckpts: int = -1, **kwargs):
        super().__init__(*args, max_keep_ckpts=-1, **kwargs)
        self.keep_last = max_keep_ckpts

    def _save_checkpoint_with_step(self, runner, step, meta):
        super()._save_checkpoint_with_step(runner, step, meta)
        if not is_main_process():
            return
        from asym_plugins.engine.checkpoint import _atomic_write
        last = str(self.last_ckpt)
        work_dir = osp.abspath(runner.work_dir)
        if osp.isabs(last) or osp.exists(last):
            rel = osp.relpath(osp.abspath(last), work_dir)
            if not rel.startswith(os.pardir):
                last = rel
        _atomic_write(last.encode('utf-8'), osp.join(runner.work_dir, 'last_checkpoint'))
        if self.keep_last > 0:
            self._prune(step)

    def _prune(self, step: int) -> None:
        head, _, tail = self.filename_tmpl.partition('{}')
        pattern = re.compile('^' + re.escape(head) + r'(\d+)' + re.escape(tail) + '$')
        out_dir = str(self.out_dir)
        if not osp.isdir(out_dir):
            return
        found = sorted((int(m.group(1)), name) for name in os.listdir(out_dir)
                       for m in [pattern.match(name)] if m and int(m.group(1)) <= step)
        for _, name in found[:-self.keep_last]:
            for path in (osp.join(out_dir, name), osp.join(out_dir, name + '.sha256')):
                if osp.isfile(path):
                    os.remove(path)
            print_log(f'max_keep_ckpts={self.keep_last}: removed {name}.', logger='current')
