"""Helpers shared by the Re-ID models (:class:`~.base_reid_model.BaseReIDModel` and its
subclasses): the data preprocessor, the BNNeck head and the ID / metric losses are built the
same way everywhere (same submodule names, so checkpoints keep their keys), and ``predict``
writes ``pred_feature`` the same way."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from asym_plugins.registry import MODELS
from asym_plugins.structures import ReIDDataSample

__all__ = ['LOSS_INPUTS', 'check_choice', 'build_data_preprocessor', 'build_reid_head',
           'loss_default_input', 'build_reid_losses', 'set_pred_features']

#: What a loss is computed on: the classifier's logits, ``f_t`` (pooled, before BNNeck) or
#: ``f_i`` (after BNNeck).
LOSS_INPUTS = ('logits', 'feature', 'bn_feature')


def check_choice(value, choices: Sequence, owner: str, key: str) -> None:
    """``ValueError`` naming ``model.<key>`` when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f'{owner}: {key} must be one of {choices}, got {value!r} '
                         f'(model.{key}).')


def build_data_preprocessor(data_preprocessor: Union[dict, nn.Module, None]
                            ) -> Union[nn.Module, None]:
    """``None`` -> ``ReIDDataPreprocessor()``; a config dict is built from our registry (so no
    default scope is needed outside a Runner); a module is returned as it is."""
    if data_preprocessor is None:
        data_preprocessor = dict(type='ReIDDataPreprocessor')
    if isinstance(data_preprocessor, dict):
        data_preprocessor = MODELS.build(data_preprocessor)
    return data_preprocessor


def build_reid_head(head: Optional[dict], in_channels: Optional[int],
                    owner: str = 'ReIDBaseline', source: str = 'backbone') -> nn.Module:
    """A head (default ``BNNeckHead``) whose ``in_channels`` defaults to ``in_channels`` (the
    backbone's width; None: the config must give it, else a ``ValueError`` naming
    ``source``)."""
    head = dict(head if head is not None else dict(type='BNNeckHead'))
    head.setdefault('type', 'BNNeckHead')
    if head.get('in_channels') is None:
        if in_channels is None:
            raise ValueError(f'{owner}: set model.head.in_channels; the {source} has no '
                             f'out_channels.')
        head['in_channels'] = in_channels
    return MODELS.build(head)


def loss_default_input(name: str, cfg: dict) -> str:
    """What loss ``name`` reads when its config has no ``input``: the ``default_input`` its
    registry type declares (``CrossEntropyLabelSmooth``: ``'logits'``; the triplet losses:
    ``'feature'``), else ``'logits'`` for the loss named ``'id'`` and ``'feature'`` for the
    others."""
    loss_type = cfg.get('type')
    cls = MODELS.get(loss_type) if isinstance(loss_type, str) else loss_type
    declared = getattr(cls, 'default_input', None)
    if declared is not None:
        return declared
    return 'logits' if name == 'id' else 'feature'


def build_reid_losses(losses: Optional[Dict[str, Optional[dict]]], owner: str = 'ReIDBaseline'
                      ) -> Tuple[nn.ModuleDict, Dict[str, str]]:
    """``{name: config or None}`` -> ``(ModuleDict of the losses, {name: input})``; ``None``
    disables a loss.

    Every loss is a registry type (``MODELS``) called as ``loss(x, labels)``; ``x`` is chosen by
    the config's ``input`` (one of :data:`LOSS_INPUTS`, taken out of the config before building;
    default: :func:`loss_default_input`).
    """
    modules = nn.ModuleDict()
    inputs: Dict[str, str] = {}
    for name, cfg in (losses or {}).items():
        if cfg is None:
            continue
        cfg = copy.deepcopy(dict(cfg))
        if 'type' not in cfg:
            raise ValueError(f'{owner}: model.losses.{name} needs a type (a MODELS loss such as '
                             f"'CrossEntropyLabelSmooth' or 'TripletLoss').")
        loss_input = cfg.pop('input', None) or loss_default_input(name, cfg)
        if loss_input not in LOSS_INPUTS:
            raise ValueError(f'{owner}: model.losses.{name}.input must be one of '
                             f'{LOSS_INPUTS}, got {loss_input!r}.')
        inputs[name] = loss_input
        modules[name] = MODELS.build(cfg)
    return modules, inputs


def set_pred_features(feats: torch.Tensor, data_samples: Optional[List[ReIDDataSample]],
                      owner: str) -> List[ReIDDataSample]:
    """Sets ``pred_feature`` = row i of ``feats`` (N, D) on sample i (new samples when none are
    given); a ``ValueError`` when the counts differ."""
    if data_samples is None:
        data_samples = [ReIDDataSample() for _ in range(feats.shape[0])]
    if len(data_samples) != feats.shape[0]:
        raise ValueError(f'{owner}.predict: {feats.shape[0]} images but '
                         f'{len(data_samples)} data samples.')
    for sample, feat in zip(data_samples, feats):
        sample.pred_feature = feat
    return data_samples
