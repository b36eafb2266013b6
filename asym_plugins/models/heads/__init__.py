"""Heads: the BoT BNNeck + linear classifier."""
from .bnneck_head import BNNeckHead

__all__ = ['BNNeckHead']
