"""AGW (Ye et al. 2021, "Deep Learning for Person Re-identification: A Survey and Outlook") for
infrared <-> visible Re-ID: the two-stream backbones (the model that routes each sample's
modality, :class:`~asym_plugins.models.agw_model.AGWModel`, is in ``models/agw_model.py``).

Two-stream layout (AGW's cross-modality baseline): the first stage is modality-specific (one
``conv1/bn1/relu/maxpool`` stem per modality), the rest (``layer1..layer4``) is shared; each
sample of a mixed batch goes through the stem of its own modality, the stems' outputs are put
back in batch order and the shared part sees the whole batch. Non-local blocks follow the last
blocks of chosen stages (AGW: 2 in ``layer2``, 3 in ``layer3``); the rest of AGW (GeM pooling,
BNNeck, ID loss + weighted regularised triplet) is the :class:`AGWModel`'s neck, head and losses.

How the backbone learns each sample's modality: ``backbone(x, modality=...)`` where
``modality`` is a sequence of names (``'visible'`` / ``'infrared'``, the ``modality`` field of
the data samples), a LongTensor of stream indices (0 = ``modalities[0]``), or a BoolTensor
(True = stream 1). :class:`AGWModel` reads ``modality`` from the data samples and passes it.
"""
import copy
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torchvision.models.resnet import Bottleneck

from asym_plugins.registry import MODELS

from ..non_local import NonLocalBlock
from .base import BaseReIDBackbone
from .resnet import _TORCHVISION_BUILDERS, set_first_block_stride
from .small_net import conv_bn_relu

ModalityLike = Union[Sequence[str], torch.Tensor, None]
DEFAULT_MODALITIES = ('visible', 'infrared')


class ModalityRoutingMixin:
    """Per-sample routing through modality-specific stems (shared by the two-stream backbones).

    Subclasses set ``self.modalities`` (stream names) and ``self.stems`` (an ``nn.ModuleList``,
    one stem per modality), and list in ``stem_checkpoint_keys`` the key prefixes of a
    single-stream checkpoint's stem (e.g. ``'conv1.'``) with their place inside one stem.
    """

    #: Tells :class:`AGWModel` that ``forward`` takes ``modality=``.
    routes_modality = True
    #: single-stream checkpoint prefix -> prefix inside ``stems.<i>.``.
    stem_checkpoint_keys: Dict[str, str] = {}
    modalities: Tuple[str, ...]
    stems: nn.ModuleList

    def stream_index(self, modality: ModalityLike, num: int,
                     device: torch.device) -> torch.Tensor:
        """``modality`` (see the module docstring) -> LongTensor (num,) of stream indices."""
        name = type(self).__name__
        if modality is None:
            raise ValueError(
                f'{name}: the modality of each sample is needed (modality=[...] with entries '
                f'in {self.modalities}); the model reads it from the data samples\' `modality` '
                'field, so use AGWModel (or pass modality= yourself).')
        if isinstance(modality, str):
            modality = [modality] * num
        if isinstance(modality, torch.Tensor):
            if modality.dtype == torch.bool:
                idx = modality.long()
            elif modality.dtype in (torch.int8, torch.int16, torch.int32, torch.int64,
                                    torch.uint8):
                idx = modality.long()
            else:
                raise TypeError(f'{name}: a modality tensor must be bool or integer (stream '
                                f'indices), got {modality.dtype}.')
            idx = idx.reshape(-1).to(device)
        else:
            modality = list(modality)
            lookup = {m: i for i, m in enumerate(self.modalities)}
            unknown = sorted({str(m) for m in modality if m not in lookup})
            if unknown:
                raise ValueError(f'{name}: unknown modality {unknown}; expected one of '
                                 f'{self.modalities} (model.backbone.modalities).')
            idx = torch.tensor([lookup[m] for m in modality], dtype=torch.long, device=device)
        if idx.numel() != num:
            raise ValueError(f'{name}: {idx.numel()} modality entries for a batch of {num}.')
        if num and (int(idx.min()) < 0 or int(idx.max()) >= len(self.stems)):
            raise ValueError(f'{name}: stream indices must lie in [0, {len(self.stems)}), got '
                             f'{int(idx.min())}..{int(idx.max())}.')
        return idx

    def route(self, x: torch.Tensor, modality: ModalityLike) -> torch.Tensor:
        """Run every sample through the stem of its modality; output in input order."""
        idx = self.stream_index(modality, x.shape[0], x.device)
        if x.shape[0] == 0:
            return self.stems[0](x)
        first = int(idx[0])
        if bool((idx == first).all()):  # one modality (the usual test batch): no copies
            return self.stems[first](x)
        outs, order = [], []
        for s, stem in enumerate(self.stems):
            sel = torch.nonzero(idx == s, as_tuple=False).squeeze(1)
            if sel.numel():
                outs.append(stem(x.index_select(0, sel)))
                order.append(sel)
        out = torch.cat(outs)
        perm = torch.cat(order)  # row k of `out` belongs to sample perm[k]
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(perm.numel(), device=perm.device)
        return out.index_select(0, inverse)

    def convert_checkpoint_keys(self, state_dict: Dict, prefix: str) -> None:
        """A single-stream checkpoint (torchvision layout) gets its stem copied into every
        modality's stem; the keys of a two-stream checkpoint are left as they are."""
        super().convert_checkpoint_keys(state_dict, prefix)  # drops fc.*
        for src, dst in self.stem_checkpoint_keys.items():
            for key in [k for k in state_dict if k.startswith(prefix + src)]:
                value = state_dict.pop(key)
                rest = key[len(prefix + src):]
                for s in range(len(self.stems)):
                    state_dict[f'{prefix}stems.{s}.{dst}{rest}'] = value


def _check_modalities(modalities: Sequence[str], name: str) -> Tuple[str, ...]:
    modalities = tuple(modalities)
    if len(modalities) < 2 or len(set(modalities)) != len(modalities):
        raise ValueError(f'{name}: modalities must name at least two distinct streams, got '
                         f'{modalities}.')
    return modalities


def _non_local_counts(non_local: Optional[Sequence[int]], stage_sizes: Sequence[int],
                      name: str) -> Tuple[int, ...]:
    if non_local is None:
        return (0, ) * len(stage_sizes)
    counts = tuple(int(c) for c in non_local)
    if len(counts) != len(stage_sizes):
        raise ValueError(f'{name}: non_local needs one count per stage ({len(stage_sizes)}), '
                         f'got {tuple(non_local)}.')
    for c, size in zip(counts, stage_sizes):
        if not 0 <= c <= size:
            raise ValueError(f'{name}: non_local={counts} asks for more blocks than a stage '
                             f'has (stage sizes {tuple(stage_sizes)}).')
    return counts


class ResNetStem(nn.Module):
    """torchvision's first stage: ``conv1 -> bn1 -> relu -> maxpool`` (stride 4)."""

    def __init__(self, conv1: nn.Module, bn1: nn.Module, relu: nn.Module,
                 maxpool: nn.Module) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = conv1, bn1, relu, maxpool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


def _run_stage(x: torch.Tensor, blocks: nn.Sequential, non_locals: nn.ModuleList
               ) -> torch.Tensor:
    """The blocks of one stage, a non-local block after each of the last ``len(non_locals)``."""
    first_nl = len(blocks) - len(non_locals)
    for i, block in enumerate(blocks):
        x = block(x)
        if i >= first_nl:
            x = non_locals[i - first_nl](x)
    return x


@MODELS.register_module()
class TwoStreamResNet(ModalityRoutingMixin, BaseReIDBackbone):
    """AGW's two-stream ResNet: a ``conv1/bn1/relu/maxpool`` stem per modality, shared
    ``layer1..layer4`` (last stride 1) with optional non-local blocks.

    ``forward(x, modality)`` -> ``(N, C, H, W)`` map (``C`` = 2048 for ResNet-50). Module names
    of the shared part equal torchvision's; the stems are ``stems.<i>.{conv1,bn1}`` and the
    non-local blocks ``non_local.<stage>.<j>``.

    Args:
        depth: 18, 34, 50, 101 or 152 (torchvision architectures).
        last_stride: stride of ``layer4`` (1 in AGW).
        non_local: non-local blocks per stage (``layer1..layer4``), each placed after one of the
            stage's last blocks; AGW: ``(0, 2, 3, 0)``; ``None`` or zeros: none.
        non_local_reduction: channel reduction inside the non-local blocks (2).
        modalities: stream names, in stem order (``('visible', 'infrared')``).
        init_cfg: ``dict(type='Pretrained', checkpoint=LOCAL_PATH)``: a torchvision ImageNet
            state_dict has its ``conv1``/``bn1`` copied into every stem (``fc.*`` dropped); the
            non-local blocks are not in it and keep their identity initialisation (MMEngine
            logs them as missing keys). A two-stream checkpoint loads as it is.

    Examples::
        >>> net = TwoStreamResNet(depth=50).eval()
        >>> x = torch.zeros(2, 3, 256, 128)
        >>> net(x, modality=['visible', 'infrared']).shape
        torch.Size([2, 2048, 16, 8])
    """

    stem_checkpoint_keys = {'conv1.': 'conv1.', 'bn1.': 'bn1.'}

    def __init__(self, depth: int = 50, last_stride: int = 1,
                 non_local: Optional[Sequence[int]] = (0, 2, 3, 0),
                 non_local_reduction: int = 2,
                 modalities: Sequence[str] = DEFAULT_MODALITIES,
                 init_cfg: Union[dict, list, None] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        if depth not in _TORCHVISION_BUILDERS:
            raise ValueError(f'{name}: depth must be one of {sorted(_TORCHVISION_BUILDERS)}, '
                             f'got {depth}.')
        if last_stride not in (1, 2):
            raise ValueError(f'{name}: last_stride must be 1 or 2, got {last_stride}.')
        self.modalities = _check_modalities(modalities, name)
        self.depth, self.last_stride = depth, last_stride
        net = _TORCHVISION_BUILDERS[depth](weights=None)
        stem = ResNetStem(net.conv1, net.bn1, net.relu, net.maxpool)
        self.stems = nn.ModuleList([stem] + [copy.deepcopy(stem)
                                             for _ in range(len(self.modalities) - 1)])
        self.layer1, self.layer2, self.layer3, self.layer4 = (net.layer1, net.layer2,
                                                              net.layer3, net.layer4)
        set_first_block_stride(self.layer4, last_stride)
        layers = (self.layer1, self.layer2, self.layer3, self.layer4)
        self.stage_channels = tuple(
            layer[-1].conv3.out_channels if isinstance(layer[-1], Bottleneck)
            else layer[-1].conv2.out_channels for layer in layers)
        self.out_channels = self.stage_channels[-1]
        self.non_local_counts = _non_local_counts(non_local, [len(layer) for layer in layers], name)
        self.non_local = nn.ModuleList([
            nn.ModuleList([NonLocalBlock(ch, non_local_reduction) for _ in range(count)])
            for ch, count in zip(self.stage_channels, self.non_local_counts)])

    def forward(self, x: torch.Tensor, modality: ModalityLike = None) -> torch.Tensor:
        x = self.route(x, modality)
        for layer, nls in zip((self.layer1, self.layer2, self.layer3, self.layer4),
                              self.non_local):
            x = _run_stage(x, layer, nls)
        return x


@MODELS.register_module()
class TwoStreamSmallReIDNet(ModalityRoutingMixin, BaseReIDBackbone):
    """The CPU twin of :class:`TwoStreamResNet`: :class:`SmallReIDNet` with one stride-2 stem
    per modality, shared stages, and optional non-local blocks.

    Args:
        out_channels, stride, widths, in_channels: as :class:`SmallReIDNet`.
        non_local: non-local blocks per stage (``stage1..stage3``, 2 conv layers each), placed
            after the stage's last layers; default ``(0, 1, 1)``.
        non_local_reduction: channel reduction of the non-local blocks.
        modalities: stream names in stem order.
        init_cfg: a :class:`SmallReIDNet` checkpoint has its ``stem`` copied into every stem.

    Examples::
        >>> net = TwoStreamSmallReIDNet(out_channels=64)
        >>> net(torch.zeros(2, 3, 128, 64), modality=['infrared', 'visible']).shape
        torch.Size([2, 64, 8, 4])
    """

    stem_checkpoint_keys = {'stem.': ''}

    def __init__(self, out_channels: int = 512, stride: int = 16,
                 widths: Sequence[int] = (32, 64, 128), in_channels: int = 3,
                 non_local: Optional[Sequence[int]] = (0, 1, 1), non_local_reduction: int = 2,
                 modalities: Sequence[str] = DEFAULT_MODALITIES,
                 init_cfg: Union[dict, list, None] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        if stride not in (8, 16):
            raise ValueError(f'{name}: stride must be 8 or 16, got {stride}.')
        if len(widths) != 3:
            raise ValueError(f'{name}: widths needs 3 entries (stem, stage1, stage2), got '
                             f'{tuple(widths)}.')
        self.modalities = _check_modalities(modalities, name)
        self.out_channels, self.stride = out_channels, stride
        w0, w1, w2 = widths
        self.stems = nn.ModuleList([conv_bn_relu(in_channels, w0, stride=2)
                                    for _ in self.modalities])
        self.stage1 = nn.Sequential(conv_bn_relu(w0, w1, stride=2), conv_bn_relu(w1, w1))
        self.stage2 = nn.Sequential(conv_bn_relu(w1, w2, stride=2), conv_bn_relu(w2, w2))
        self.stage3 = nn.Sequential(
            conv_bn_relu(w2, out_channels, stride=2 if stride == 16 else 1),
            conv_bn_relu(out_channels, out_channels, kernel_size=1))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.non_local_counts = _non_local_counts(non_local, (2, 2, 2), name)
        self.non_local = nn.ModuleList([
            nn.ModuleList([NonLocalBlock(ch, non_local_reduction) for _ in range(count)])
            for ch, count in zip((w1, w2, out_channels), self.non_local_counts)])

    def forward(self, x: torch.Tensor, modality: ModalityLike = None) -> torch.Tensor:
        x = self.route(x, modality)
        for stage, nls in zip((self.stage1, self.stage2, self.stage3), self.non_local):
            x = _run_stage(x, stage, nls)
        return x


__all__ = ['ModalityRoutingMixin', 'ModalityLike', 'DEFAULT_MODALITIES', 'ResNetStem',
           'TwoStreamResNet', 'TwoStreamSmallReIDNet']

_MOVED = {'AGWModel': 'asym_plugins.models.agw_model',
          'AGW_LOSSES': 'asym_plugins.models.agw_model'}


def __getattr__(name: str):
    # Deprecated: the AGW model moved to asym_plugins.models.agw_model (one release).
    if name in _MOVED:
        import importlib
        import warnings
        warnings.warn(f'asym_plugins.models.backbones.agw.{name} moved to {_MOVED[name]}.{name}; '
                      f'the old path goes in the next release.', DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
