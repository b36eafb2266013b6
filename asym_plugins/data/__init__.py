"""Datasets, samplers, transforms and the synthetic world."""
from . import datasets, samplers, synthetic, transforms  # noqa: F401
from .datasets import *  # noqa: F401,F403
from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
