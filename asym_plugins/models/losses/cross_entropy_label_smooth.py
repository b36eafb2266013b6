"""Identity (ID) loss with label smoothing, as in the BoT recipe (Luo et al. 2019)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from asym_plugins.registry import MODELS


@MODELS.register_module()
class CrossEntropyLabelSmooth(nn.Module):
    """Softmax cross-entropy against smoothed one-hot targets (BoT eq. for the ID loss).

    ``q_i = (1 - epsilon) * [i == y] + epsilon / K`` and
    ``L = mean_n sum_i -q_i log p_i(x_n)`` with ``p = softmax(logits)`` over ``K`` classes.

    Args:
        num_classes: K. ``None`` takes it from ``logits.shape[1]``; when given, the logits
            must have exactly that many columns.
        epsilon: smoothing factor (0.1 in BoT; 0 gives plain cross-entropy).
        loss_weight: multiplier applied to the returned loss.

    Shapes: ``logits`` (N, K) float, ``labels`` (N,) long in ``[0, K)``; returns a scalar.

    Examples::
        >>> loss = CrossEntropyLabelSmooth(epsilon=0.1)
        >>> loss(torch.zeros(2, 3), torch.tensor([0, 2]))  # log(3) for uniform logits
        tensor(1.0986)
    """

    #: What a Re-ID model feeds this loss unless its config says ``input=...``.
    default_input = 'logits'

    def __init__(self, num_classes: Optional[int] = None, epsilon: float = 0.1,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if not 0.0 <= epsilon < 1.0:
            raise ValueError(f'CrossEntropyLabelSmooth: epsilon must be in [0, 1), got {epsilon}.')
        self.num_classes = num_classes
        self.epsilon = epsilon
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if logits.dim() != 2:
            raise ValueError(f'CrossEntropyLabelSmooth expects logits of shape (N, K), '
                             f'got {tuple(logits.shape)}.')
        num_classes = logits.shape[1]
        if self.num_classes is not None and self.num_classes != num_classes:
            raise ValueError(f'CrossEntropyLabelSmooth: num_classes={self.num_classes} but the '
                             f'logits have {num_classes} columns; make them agree.')
        labels = labels.reshape(-1).long()
        if labels.numel() != logits.shape[0]:
            raise ValueError(f'CrossEntropyLabelSmooth: {logits.shape[0]} logits rows but '
                             f'{labels.numel()} labels.')
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f'CrossEntropyLabelSmooth: labels must lie in [0, {num_classes}), got range '
                f'[{int(labels.min())}, {int(labels.max())}]. The classifier has too few classes '
                f'for the training identities, or junk samples (pid -1) were not filtered.')
        log_probs = F.log_softmax(logits, dim=1)
        targets = torch.full_like(log_probs, self.epsilon / num_classes)
        targets.scatter_(1, labels.unsqueeze(1), 1.0 - self.epsilon + self.epsilon / num_classes)
        loss = (-targets * log_probs).sum(dim=1).mean()
        return loss * self.loss_weight
