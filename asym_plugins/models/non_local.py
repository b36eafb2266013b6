"""Non-local block (Wang et al., CVPR 2018), embedded dot-product form, as used by AGW."""
import torch
import torch.nn as nn

from asym_plugins.registry import MODELS


@MODELS.register_module()
class NonLocalBlock(nn.Module):
    """``z = x + W(y)``, ``y_i = (1/N) sum_j (theta(x_i) . phi(x_j)) g(x_j)`` over the N = H*W
    positions of the map.

    ``g``, ``theta`` and ``phi`` are 1x1 convolutions to ``in_channels // reduction`` channels;
    ``W`` is a 1x1 convolution back to ``in_channels`` followed by a BatchNorm whose weight and
    bias start at zero (AGW), so a freshly built block is the identity and inserting it into a
    pretrained network does not change its output.

    Args:
        in_channels: channels of the input map.
        reduction: channel reduction of the embeddings (2 in AGW).

    Examples::
        >>> block = NonLocalBlock(16).eval()
        >>> x = torch.randn(2, 16, 6, 3)
        >>> torch.equal(block(x), x)
        True
    """

    def __init__(self, in_channels: int, reduction: int = 2) -> None:
        super().__init__()
        if in_channels < 1 or reduction < 1:
            raise ValueError(f'NonLocalBlock: in_channels and reduction must be >= 1, got '
                             f'{in_channels} and {reduction}.')
        inter = max(1, in_channels // reduction)
        self.in_channels, self.inter_channels = in_channels, inter
        self.g = nn.Conv2d(in_channels, inter, kernel_size=1)
        self.theta = nn.Conv2d(in_channels, inter, kernel_size=1)
        self.phi = nn.Conv2d(in_channels, inter, kernel_size=1)
        self.W = nn.Sequential(nn.Conv2d(inter, in_channels, kernel_size=1),
                               nn.BatchNorm2d(in_channels))
        nn.init.zeros_(self.W[1].weight)
        nn.init.zeros_(self.W[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        g = self.g(x).flatten(2).transpose(1, 2)        # (n, HW, c')
        theta = self.theta(x).flatten(2).transpose(1, 2)  # (n, HW, c')
        phi = self.phi(x).flatten(2)                    # (n, c', HW)
        f = torch.bmm(theta, phi) / (h * w)             # (n, HW, HW), dot product / N
        y = torch.bmm(f, g).transpose(1, 2).reshape(n, self.inter_channels, h, w)
        return x + self.W(y)


__all__ = ['NonLocalBlock']
