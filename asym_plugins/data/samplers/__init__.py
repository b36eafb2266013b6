"""Identity samplers (``DATA_SAMPLERS``). ``num_instances`` means K images per identity
everywhere; in the cross-modality sampler, K per identity AND modality (a batch is
P x (K visible + K infrared)), as in ``AGWEngine``'s torchreid sampler."""
from .cross_modality_sampler import CrossModalityIdentitySampler
from .identity_sampler import IdentitySampler

__all__ = ['IdentitySampler', 'CrossModalityIdentitySampler']
