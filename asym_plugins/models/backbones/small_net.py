"""A small convolutional backbone for CPU demos and tests."""
from typing import Sequence, Union

import torch
import torch.nn as nn

from asym_plugins.registry import MODELS

from .base import BaseReIDBackbone


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                  padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True))


@MODELS.register_module()
class SmallReIDNet(BaseReIDBackbone):
    """Plain conv-BN-ReLU network, about 1M parameters, fast at 128x64 on a CPU.

    Layout: a stride-2 stem, then one stage per entry of ``widths`` (each a strided 3x3
    conv-BN-ReLU followed by a 3x3 one), then a 3x3 + 1x1 head stage to ``out_channels``.
    Every stage but the head halves the resolution; the head stage strides only when
    ``stride=16``. The output ends in ReLU, so pooled features are non-negative.

    Args:
        out_channels: channels of the output map (e.g. 256 or 512).
        stride: total output stride, 16 or 8 (128x64 input -> 8x4 or 16x8 map).
        widths: channels of the stem and the intermediate stages.
        in_channels: image channels.
        init_cfg: optional ``dict(type='Pretrained', checkpoint=LOCAL_PATH)``.

    Examples::
        >>> net = SmallReIDNet(out_channels=256, stride=16)
        >>> net(torch.zeros(2, 3, 128, 64)).shape
        torch.Size([2, 256, 8, 4])
    """

    def __init__(self, out_channels: int = 512, stride: int = 16,
                 widths: Sequence[int] = (32, 64, 128), in_channels: int = 3,
                 init_cfg: Union[dict, list, None] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if stride not in (8, 16):
            raise ValueError(f'SmallReIDNet: stride must be 8 or 16, got {stride}.')
        if len(widths) != 3:
            raise ValueError(f'SmallReIDNet: widths needs 3 entries (stem, stage1, stage2), '
                             f'got {tuple(widths)}.')
        self.out_channels = out_channels
        self.stride = stride
        w0, w1, w2 = widths
        self.stem = conv_bn_relu(in_channels, w0, stride=2)                     # /2
        self.stage1 = nn.Sequential(conv_bn_relu(w0, w1, stride=2), conv_bn_relu(w1, w1))  # /4
        self.stage2 = nn.Sequential(conv_bn_relu(w1, w2, stride=2), conv_bn_relu(w2, w2))  # /8
        self.stage3 = nn.Sequential(
            conv_bn_relu(w2, out_channels, stride=2 if stride == 16 else 1),
            conv_bn_relu(out_channels, out_channels, kernel_size=1))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage3(self.stage2(self.stage1(self.stem(x))))
