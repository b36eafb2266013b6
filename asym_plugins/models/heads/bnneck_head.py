"""The BoT head: BNNeck then a bias-free linear identity classifier."""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from asym_plugins.registry import MODELS

from ..necks.bnneck import BNNeck


@MODELS.register_module()
class BNNeckHead(nn.Module):
    """``f_t`` (N, C) -> ``f_i = BNNeck(f_t)`` (N, C) and ``logits = W f_i`` (N, num_classes).

    Args:
        in_channels: C; ``ReIDBaseline`` fills it from the backbone's ``out_channels`` when None.
        num_classes: number of training identities; ``None`` builds no classifier (test-only
            models, or training with metric losses only).
        bias_freeze: freeze the BN shift at zero (BoT).
        classifier_std: std of the classifier's normal initialisation (0.001 in BoT).

    Examples::
        >>> head = BNNeckHead(in_channels=8, num_classes=5)
        >>> f_i, logits = head(torch.randn(4, 8))
        >>> f_i.shape, logits.shape
        (torch.Size([4, 8]), torch.Size([4, 5]))
    """

    def __init__(self, in_channels: Optional[int] = None, num_classes: Optional[int] = None,
                 bias_freeze: bool = True, classifier_std: float = 0.001) -> None:
        super().__init__()
        if in_channels is None:
            raise ValueError('BNNeckHead: in_channels is required (model.head.in_channels); '
                             'ReIDBaseline fills it from the backbone when left out.')
        if num_classes is not None and num_classes < 1:
            raise ValueError(f'BNNeckHead: num_classes must be positive, got {num_classes}; set '
                             f'model.head.num_classes to the number of training identities.')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.bnneck = BNNeck(in_channels, bias_freeze=bias_freeze)
        if num_classes is None:
            self.classifier = None
        else:
            self.classifier = nn.Linear(in_channels, num_classes, bias=False)
            nn.init.normal_(self.classifier.weight, std=classifier_std)

    def forward(self, f_t: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        f_i = self.bnneck(f_t)
        logits = self.classifier(f_i) if self.classifier is not None else None
        return f_i, logits
