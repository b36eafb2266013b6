"""Metric-learning losses on a P x K identity batch: batch-hard triplet (BoT) and the
weighted regularised triplet (AGW, Ye et al. 2021)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from asym_plugins.registry import MODELS

_SAMPLER_HINT = ('Build training batches with a P x K identity sampler (P identities x K >= 2 '
                 'images each, e.g. 16 x 4), so that every anchor has a positive and a negative.')


def euclidean_dist(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Pairwise Euclidean distances, (M, D) x (N, D) -> (M, N).

    Uses ``|x|^2 + |y|^2 - 2 x.y`` clamped at ``eps`` before the square root: the clamp keeps
    the gradient of ``sqrt`` finite on (near-)zero distances such as an anchor with itself.
    """
    xx = x.pow(2).sum(dim=1, keepdim=True)
    yy = y.pow(2).sum(dim=1, keepdim=True).t()
    dist2 = xx + yy - 2.0 * (x @ y.t())
    return dist2.clamp(min=eps).sqrt()


def _pair_masks(labels: torch.Tensor, loss_name: str) -> Tuple[torch.Tensor, torch.Tensor,
                                                                  torch.Tensor]:
    """Positive (same label, not self) and negative masks, and the anchors having both."""
    labels = labels.reshape(-1)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(labels.numel(), dtype=torch.bool, device=labels.device)
    is_pos = same & ~eye
    is_neg = ~same
    valid = is_pos.any(dim=1) & is_neg.any(dim=1)
    if not bool(valid.any()):
        n_ids = int(labels.unique().numel())
        raise ValueError(
            f'{loss_name}: the batch of {labels.numel()} samples from {n_ids} identities has no '
            f'anchor with both a positive and a negative pair. {_SAMPLER_HINT}')
    return is_pos, is_neg, valid


def _check_inputs(features: torch.Tensor, labels: torch.Tensor, loss_name: str) -> None:
    if features.dim() != 2:
        raise ValueError(f'{loss_name} expects features of shape (N, D), '
                         f'got {tuple(features.shape)}.')
    if labels.numel() != features.shape[0]:
        raise ValueError(f'{loss_name}: {features.shape[0]} features but {labels.numel()} labels.')


@MODELS.register_module()
class TripletLoss(nn.Module):
    """Batch-hard triplet loss (Hermans et al. 2017; BoT recipe).

    For every anchor ``a``: ``d_ap = max_{p: y_p = y_a, p != a} d(a, p)`` (hardest positive),
    ``d_an = min_{n: y_n != y_a} d(a, n)`` (hardest negative), with Euclidean ``d``;
    ``L = mean_a [margin + d_ap - d_an]_+``, or with ``margin=None`` the soft margin
    ``L = mean_a log(1 + exp(d_ap - d_an))``.

    Anchors lacking a positive or a negative in the batch are left out of the mean; a batch
    where no anchor has both raises ``ValueError`` (use a P x K identity sampler).

    Args:
        margin: hinge margin (0.3 in BoT), or ``None`` for the soft margin.
        normalize_feature: L2-normalise the features before measuring distances.
        loss_weight: multiplier applied to the returned loss.

    Shapes: ``features`` (N, D), ``labels`` (N,); returns a scalar.

    Examples::
        >>> loss = TripletLoss(margin=0.3)
        >>> loss(torch.randn(8, 16), torch.arange(4).repeat_interleave(2)).dim()
        0
    """

    #: What a Re-ID model feeds this loss unless its config says ``input=...``.
    default_input = 'feature'

    def __init__(self, margin: Optional[float] = 0.3, normalize_feature: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.margin = margin
        self.normalize_feature = normalize_feature
        self.loss_weight = loss_weight

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        _check_inputs(features, labels, name)
        if self.normalize_feature:
            features = F.normalize(features, dim=1)
        is_pos, is_neg, valid = _pair_masks(labels, name)
        dist = euclidean_dist(features, features)
        # Masked entries take a value that can never win the max / min.
        d_ap = dist.masked_fill(~is_pos, float('-inf')).max(dim=1).values[valid]
        d_an = dist.masked_fill(~is_neg, float('inf')).min(dim=1).values[valid]
        if self.margin is None:
            loss = F.softplus(d_ap - d_an).mean()
        else:
            loss = F.relu(d_ap - d_an + self.margin).mean()
        return loss * self.loss_weight


def _masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Row-wise softmax of ``scores`` restricted to ``mask``; zero outside it and on empty rows."""
    empty_row = ~mask.any(dim=1, keepdim=True)
    # Empty rows get finite scores so that neither the values nor the gradients turn NaN.
    scores = scores.masked_fill(~mask, float('-inf')).masked_fill(empty_row, 0.0)
    return torch.softmax(scores, dim=1) * mask


@MODELS.register_module()
class WeightedRegularizedTriplet(nn.Module):
    """Weighted regularised triplet loss of AGW (Ye et al., "Deep Learning for Person
    Re-identification: A Survey and Outlook", 2021).

    No margin to tune: each anchor ``a`` weighs its positives by ``softmax(d(a, p))`` (far
    positives count more) and its negatives by ``softmax(-d(a, n))`` (close negatives count
    more): ``D_ap = sum_p w_p d(a, p)``, ``D_an = sum_n w_n d(a, n)``, and
    ``L = mean_a log(1 + exp(D_ap - D_an))`` (soft margin).

    Positives here are the other samples of the anchor's identity (the anchor itself, at
    distance 0, is left out). Anchors lacking a positive or a negative are left out of the mean;
    a batch where no anchor has both raises ``ValueError`` (use a P x K identity sampler).

    Args:
        normalize_feature: L2-normalise the features before measuring distances.
        loss_weight: multiplier applied to the returned loss.

    Shapes: ``features`` (N, D), ``labels`` (N,); returns a scalar.
    """

    #: What a Re-ID model feeds this loss unless its config says ``input=...``.
    default_input = 'feature'

    def __init__(self, normalize_feature: bool = False, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.normalize_feature = normalize_feature
        self.loss_weight = loss_weight

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        _check_inputs(features, labels, name)
        if self.normalize_feature:
            features = F.normalize(features, dim=1)
        is_pos, is_neg, valid = _pair_masks(labels, name)
        dist = euclidean_dist(features, features)
        w_ap = _masked_softmax(dist, is_pos)
        w_an = _masked_softmax(-dist, is_neg)
        d_ap = (dist * w_ap).sum(dim=1)[valid]
        d_an = (dist * w_an).sum(dim=1)[valid]
        loss = F.softplus(d_ap - d_an).mean()
        return loss * self.loss_weight
