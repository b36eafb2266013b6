"""Make MMEngine checkpoints loadable with ``torch.load(weights_only=True)`` (torch >= 2.6)."""
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

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
    :class:`PortableHistoryBuffer` so that ``--resume`` works under ``weights_only`` loading.

    ``tools/train.py`` adds this hook when a config lacks it; other training scripts add
    ``custom_hooks = [dict(type='PortableCheckpointHook')]``.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get('message_hub')
        if not isinstance(hub, dict) or 'log_scalars' not in hub:
            return
        hub['log_scalars'] = {
            k: PortableHistoryBuffer.from_buffer(v) if isinstance(v, HistoryBuffer) else v
            for k, v in hub['log_scalars'].items()}
