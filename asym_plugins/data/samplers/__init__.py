from .identity_sampler import IdentitySampler

__all__ = ['IdentitySampler']
from .cross_modality_sampler import CrossModalityIdentitySampler  # noqa: E402,F401  (SIM/AGW)
