"""ResNet backbone for Re-ID: torchvision's architecture, optional last stride 1."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import Bottleneck

from asym_plugins.registry import MODELS

from .base import BaseReIDBackbone

_TORCHVISION_BUILDERS = {
    18: torchvision.models.resnet18,
    34: torchvision.models.resnet34,
    50: torchvision.models.resnet50,
    101: torchvision.models.resnet101,
    152: torchvision.models.resnet152,
}


def set_first_block_stride(layer: nn.Sequential, stride: int) -> None:
    """Set the spatial stride of a torchvision ResNet stage (its first block) in place.

    torchvision's Bottleneck strides its 3x3 ``conv2`` (ResNet v1.5), BasicBlock its ``conv1``;
    the shortcut's 1x1 conv carries the same stride.
    """
    block = layer[0]
    conv = block.conv2 if isinstance(block, Bottleneck) else block.conv1
    conv.stride = (stride, stride)
    if block.downsample is not None:
        block.downsample[0].stride = (stride, stride)
    block.stride = stride


@MODELS.register_module()
class ReIDResNet(BaseReIDBackbone):
    """ResNet (torchvision layout, no classifier) returning feature maps.

    BoT sets ``last_stride=1``: the last stage keeps resolution, so a 256x128 input gives a
    16x8 map of 2048 channels (ResNet-50) instead of 8x4.

    Args:
        depth: 18, 34, 50, 101 or 152 (torchvision architectures).
        last_stride: stride of the last stage (``layer4``), 1 or 2.
        out_indices: ``None`` returns the last stage's map as a tensor; a sequence of stage
            indices (0..3 for ``layer1..layer4``) returns a tuple of those stages' maps.
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint='/local/resnet50.pth')``; a
            torchvision ImageNet state_dict loads directly (its ``fc.*`` keys are dropped).

    Module names equal torchvision's (``conv1, bn1, layer1..layer4``), so torchvision state
    dicts also load with plain ``load_state_dict``.

    Examples::
        >>> net = ReIDResNet(depth=50, last_stride=1).eval()
        >>> net(torch.zeros(1, 3, 256, 128)).shape
        torch.Size([1, 2048, 16, 8])
    """

    def __init__(self, depth: int = 50, last_stride: int = 1,
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg: Union[dict, list, None] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth not in _TORCHVISION_BUILDERS:
            raise ValueError(f'ReIDResNet: depth must be one of {sorted(_TORCHVISION_BUILDERS)}, '
                             f'got {depth}.')
        if last_stride not in (1, 2):
            raise ValueError(f'ReIDResNet: last_stride must be 1 or 2, got {last_stride}.')
        if out_indices is not None:
            out_indices = tuple(out_indices)
            if not out_indices or any(i not in (0, 1, 2, 3) for i in out_indices):
                raise ValueError(f'ReIDResNet: out_indices must be stage indices in 0..3, '
                                 f'got {out_indices}.')
        self.depth = depth
        self.last_stride = last_stride
        self.out_indices = out_indices

        net = _TORCHVISION_BUILDERS[depth](weights=None)
        self.conv1 = net.conv1
        self.bn1 = net.bn1
        self.relu = net.relu
        self.maxpool = net.maxpool
        self.layer1 = net.layer1
        self.layer2 = net.layer2
        self.layer3 = net.layer3
        self.layer4 = net.layer4
        set_first_block_stride(self.layer4, last_stride)
        block = self.layer4[-1]
        self.out_channels = block.conv3.out_channels if isinstance(block, Bottleneck) \
            else block.conv2.out_channels
        self.stage_channels = tuple(
            layer[-1].conv3.out_channels if isinstance(layer[-1], Bottleneck)
            else layer[-1].conv2.out_channels
            for layer in (self.layer1, self.layer2, self.layer3, self.layer4))

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            outs.append(x)
        if self.out_indices is None:
            return x
        return tuple(outs[i] for i in self.out_indices)


__all__ = ['ReIDResNet', 'set_first_block_stride']
