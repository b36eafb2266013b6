"""What every Re-ID backbone of this package shares: local-only pretrained weights.

Weights come through MMEngine's ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``
(``PretrainedInit``). Before delegating to MMEngine, :meth:`BaseReIDBackbone.init_weights`
checks that ``PATH`` is an existing local file: MMEngine would otherwise try to download
URLs, and our machines have no internet. Checkpoint keys that a backbone does not own
(the ImageNet classifier ``fc.*``) are dropped by a load-state-dict pre-hook, so they are not
reported as unexpected; every other missing or unexpected key is logged by MMEngine.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

from mmengine.model import BaseModule

# Schemes that MMEngine's CheckpointLoader would resolve by downloading.
_REMOTE_PREFIXES = ('http://', 'https://', 's3://', 'torchvision://', 'open-mmlab://',
                    'openmmlab://', 'mmcls://', 'mmpretrain://', 'modelzoo://', 'pavi://')


def pretrained_init_cfgs(init_cfg: Union[dict, List[dict], None]) -> List[dict]:
    """The ``type='Pretrained'`` entries of an ``init_cfg`` (dict, list of dicts or None)."""
    if not init_cfg:
        return []
    cfgs = [init_cfg] if isinstance(init_cfg, dict) else list(init_cfg)
    return [cfg for cfg in cfgs
            if cfg.get('type') == 'Pretrained' or getattr(cfg.get('type'), '__name__', None)
            == 'PretrainedInit']


def check_local_checkpoint(checkpoint: Optional[str], field: str) -> str:
    """Return ``checkpoint`` if it names an existing local file, else raise FileNotFoundError.

    Args:
        checkpoint: the ``checkpoint`` value of a ``Pretrained`` init_cfg.
        field: the config field that holds it, named in the error
            (e.g. ``'model.backbone.init_cfg.checkpoint'``).
    """
    hint = (f'Set {field} to the path of a local checkpoint file (e.g. torchvision\'s '
            f'resnet50 ImageNet state_dict saved with torch.save), or set init_cfg=None to '
            f'train from random initialisation. Nothing is downloaded.')
    if not checkpoint:
        raise FileNotFoundError(f'No pretrained checkpoint given ({field}={checkpoint!r}). {hint}')
    checkpoint = str(checkpoint)
    if checkpoint.startswith(_REMOTE_PREFIXES):
        raise FileNotFoundError(f'Pretrained checkpoint {checkpoint!r} ({field}) is not a local '
                                f'file. {hint}')
    path = osp.expanduser(checkpoint)
    if not osp.isfile(path):
        raise FileNotFoundError(f'Pretrained checkpoint {checkpoint!r} ({field}) does not exist '
                                f'or is not a file. {hint}')
    return path


class BaseReIDBackbone(BaseModule):
    """Base class of the backbones: local-checkpoint check and foreign-key filtering.

    Subclasses set ``out_channels`` (channels of the last output map) and may extend
    ``ignored_checkpoint_prefixes`` (checkpoint keys, relative to the backbone, that are dropped
    on load without a warning) or override :meth:`convert_checkpoint_keys`.
    """

    #: Config field named in errors about the pretrained checkpoint.
    init_cfg_field: str = 'model.backbone.init_cfg.checkpoint'
    #: Checkpoint keys (relative to this module) dropped silently when loading weights.
    ignored_checkpoint_prefixes: Sequence[str] = ('fc.', )

    out_channels: int

    def __init__(self, init_cfg: Union[dict, List[dict], None] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.register_load_state_dict_pre_hook(_ReIDBackboneLoadHook())

    def convert_checkpoint_keys(self, state_dict: Dict, prefix: str) -> None:
        """Rewrite ``state_dict`` in place before loading (keys carry ``prefix``).

        The default drops ``ignored_checkpoint_prefixes``; subclasses may also rename keys of
        other releases of the same weights.
        """
        drop = tuple(prefix + p for p in self.ignored_checkpoint_prefixes)
        for key in [k for k in state_dict if k.startswith(drop)]:
            del state_dict[key]

    def init_weights(self) -> None:
        """Check that a ``Pretrained`` checkpoint is a local file, then let MMEngine load it."""
        if not self._is_init:
            for cfg in pretrained_init_cfgs(self.init_cfg):
                check_local_checkpoint(cfg.get('checkpoint'), self.init_cfg_field)
        super().init_weights()


class _ReIDBackboneLoadHook:
    """Load-state-dict pre-hook calling the module's ``convert_checkpoint_keys``.

    A class rather than a closure so that the backbone stays picklable / deep-copyable.
    """

    def __call__(self, module, state_dict, prefix, *args) -> None:
        module.convert_checkpoint_keys(state_dict, prefix)
