"""BNNeck (Luo et al. 2019, "Bag of Tricks and a Strong Baseline for Deep Person Re-ID")."""
import torch
import torch.nn as nn

from asym_plugins.registry import MODELS


@MODELS.register_module()
class BNNeck(nn.Module):
    """BatchNorm1d between the metric-learning feature ``f_t`` and the classifier.

    The triplet loss acts on ``f_t`` (before BN), the ID loss on the classifier over ``f_i``
    (after BN), and ``f_i`` is the test feature. The BN shift is frozen at zero, as in BoT, so
    ``f_i`` stays centred on the origin where the softmax classifier's hyperplanes pass.
    Initialisation as BoT: weight 1, bias 0.

    Args:
        in_channels: feature dimension C.
        bias_freeze: keep the BN bias at zero (no gradient).

    Shapes: (N, C) -> (N, C).
    """

    def __init__(self, in_channels: int, bias_freeze: bool = True) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(in_channels)
        nn.init.ones_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)
        self.bn.bias.requires_grad_(not bias_freeze)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x)
