"""asym-reid: person re-identification on asymmetric data (occluded, partial, infrared-visible,
text-image) as plugins for MMEngine and torchreid.

Importing the package registers every model, dataset, transform, sampler, metric, hook and
re-ranker in the MMEngine scope ``asym`` and makes MMEngine checkpoints loadable on torch >= 2.6.
"""
from . import (  # noqa: F401
    data,
    engine,  # noqa: F401  (checkpoint allow-list, atomic file backend)
    evaluation,
    hooks,
    methods,
    models,
    registry,  # noqa: F401
)
from .version import __version__  # noqa: F401

__all__ = ['__version__', 'registry']
