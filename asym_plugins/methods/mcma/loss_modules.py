"""MCMA's losses as ``MODELS`` types (the maths are the functions of :mod:`.losses`).

``MCMAModel`` builds each slot of ``model.losses`` from the registry and calls it on that slot's
inputs (its explicit routing, docs/mcma.md):

==============  ==============================  ==========================================
slot            default type                    called on
==============  ==============================  ==========================================
``matching``    :class:`SDMLoss`                image, text global features, labels
``id``          :class:`CrossModalIDLoss`       image logits, text logits, labels
``self_recon``  :class:`MaskedPatchReconLoss`   predicted patches, targets, mask
``cross_recon`` :class:`MaskedPatchReconLoss`   predicted patches, targets, mask
``bisim``       :class:`BisimulationLoss`       L2-normalised image, text features, labels,
                                                the deviation predictor's two maps
==============  ==============================  ==========================================
"""
import torch
import torch.nn as nn

from asym_plugins.registry import MODELS

from .losses import bisimulation_loss, identity_loss, infonce_loss, masked_patch_mse, sdm_loss

__all__ = ['SDMLoss', 'InfoNCELoss', 'CrossModalIDLoss', 'MaskedPatchReconLoss',
           'BisimulationLoss']


class _WeightedLoss(nn.Module):
    """A loss with a ``loss_weight`` multiplier."""

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def extra_repr(self) -> str:
        return f'loss_weight={self.loss_weight}'


@MODELS.register_module()
class SDMLoss(_WeightedLoss):
    """Similarity distribution matching (IRRA) of :func:`.losses.sdm_loss`, times
    ``loss_weight``. ``forward(image_feats (N, D), text_feats (N, D), labels (N,))``.

    Examples::
        >>> loss = SDMLoss(temperature=0.02)
        >>> float(loss(torch.eye(2), torch.eye(2), torch.tensor([0, 1]))) < 1e-3
        True
    """

    def __init__(self, temperature: float = 0.02, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        self.temperature = temperature

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * sdm_loss(image_feats, text_feats, labels,
                                           temperature=self.temperature)


@MODELS.register_module()
class InfoNCELoss(SDMLoss):
    """CLIP's symmetric InfoNCE of :func:`.losses.infonce_loss` (labels ignored), times
    ``loss_weight``; same call as :class:`SDMLoss`."""

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * infonce_loss(image_feats, text_feats, labels,
                                               temperature=self.temperature)


@MODELS.register_module()
class CrossModalIDLoss(_WeightedLoss):
    """ID loss of both modalities through one shared classifier (:func:`.losses.identity_loss`),
    times ``loss_weight``. ``forward(image_logits (N, C), text_logits (N, C), labels (N,))``."""

    def __init__(self, label_smoothing: float = 0.0, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        self.label_smoothing = label_smoothing

    def forward(self, image_logits: torch.Tensor, text_logits: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * identity_loss(image_logits, text_logits, labels,
                                                self.label_smoothing)


@MODELS.register_module()
class MaskedPatchReconLoss(_WeightedLoss):
    """MAE's MSE over masked patches only (:func:`.losses.masked_patch_mse`), times
    ``loss_weight``. ``forward(pred (N, L, P), target (N, L, P), mask (N, L))``."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * masked_patch_mse(pred, target, mask)


@MODELS.register_module()
class BisimulationLoss(_WeightedLoss):
    """Cross-identity bisimulation loss (:func:`.losses.bisimulation_loss`), times
    ``loss_weight``. ``forward(image_feats, text_feats, labels, text_to_image, image_to_text)``
    (the deviation predictor's maps belong to the model: they are trained parameters)."""

    def __init__(self, temperature: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        self.temperature = temperature

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor,
                labels: torch.Tensor, text_to_image: nn.Module,
                image_to_text: nn.Module) -> torch.Tensor:
        return self.loss_weight * bisimulation_loss(image_feats, text_feats, labels,
                                                    text_to_image, image_to_text,
                                                    temperature=self.temperature)
