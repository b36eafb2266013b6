"""ResNet-IBN-a (Pan et al., "Two at Once: Enhancing Learning and Generalization Capacities
via IBN-Net", ECCV 2018) for Re-ID."""
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn

from asym_plugins.registry import MODELS

from .resnet import ReIDResNet


class IBN(nn.Module):
    """Instance-Batch Normalisation: InstanceNorm (affine) on the first ``ratio`` of the
    channels, BatchNorm on the rest (IBN-a).

    Attribute names ``IN`` / ``BN`` follow the IBN-Net release, so its checkpoints load as is.
    """

    def __init__(self, channels: int, ratio: float = 0.5) -> None:
        super().__init__()
        self.half = int(channels * ratio)
        if not 0 < self.half < channels:
            raise ValueError(f'IBN: ratio {ratio} leaves no channel for IN or BN '
                             f'(channels={channels}).')
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = nn.BatchNorm2d(channels - self.half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in, x_bn = torch.split(x, [self.half, x.shape[1] - self.half], dim=1)
        return torch.cat([self.IN(x_in.contiguous()), self.BN(x_bn.contiguous())], dim=1)


@MODELS.register_module()
class ResNetIBN(ReIDResNet):
    """ResNet-IBN-a: the ``bn1`` (after the first 1x1 conv) of every residual block in
    ``layer1``-``layer3`` becomes :class:`IBN`; the stem and ``layer4`` keep plain BatchNorm.

    Args:
        depth: 50 or 101 (bottleneck ResNets, torchvision layout otherwise).
        last_stride: stride of ``layer4`` (1 for Re-ID).
        ibn_ratio: fraction of ``bn1`` channels given to InstanceNorm (0.5 in IBN-a).
        out_indices: as in :class:`ReIDResNet`.
        init_cfg: ``dict(type='Pretrained', checkpoint='/local/resnet50_ibn_a.pth')``: the
            IBN-Net release (keys ``layerX.Y.bn1.IN.*`` / ``bn1.BN.*``, optionally wrapped in
            ``state_dict`` with a ``module.`` prefix) loads directly; ``fc.*`` is dropped.

    Examples::
        >>> net = ResNetIBN(depth=50).eval()
        >>> net(torch.zeros(1, 3, 64, 32)).shape
        torch.Size([1, 2048, 4, 2])
    """

    def __init__(self, depth: int = 50, last_stride: int = 1, ibn_ratio: float = 0.5,
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg: Union[dict, list, None] = None) -> None:
        if depth not in (50, 101):
            raise ValueError(f'ResNetIBN: depth must be 50 or 101 (IBN-a bottleneck nets), '
                             f'got {depth}.')
        super().__init__(depth=depth, last_stride=last_stride, out_indices=out_indices,
                         init_cfg=init_cfg)
        self.ibn_ratio = ibn_ratio
        for layer in (self.layer1, self.layer2, self.layer3):
            for block in layer:
                block.bn1 = IBN(block.bn1.num_features, ratio=ibn_ratio)

    def convert_checkpoint_keys(self, state_dict: Dict, prefix: str) -> None:
        """Drop ``fc.*`` and accept lower-case ``bn1.in`` / ``bn1.bn`` spellings of IBN keys."""
        super().convert_checkpoint_keys(state_dict, prefix)
        for key in list(state_dict):
            if not key.startswith(prefix):
                continue
            new_key = key.replace('.bn1.in.', '.bn1.IN.').replace('.bn1.bn.', '.bn1.BN.')
            if new_key != key and new_key not in state_dict:
                state_dict[new_key] = state_dict.pop(key)
