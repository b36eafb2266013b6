"""Necks: global pooling (avg / max / GeM, by name) and BNNeck."""
from .bnneck import BNNeck
from .pooling import (
                      GeneralizedMeanPooling,
                      GlobalAvgPool,
                      GlobalMaxPool,
                      GlobalPooling,
                      build_global_pooling,
)

__all__ = ['BNNeck', 'GeneralizedMeanPooling', 'GlobalAvgPool', 'GlobalMaxPool', 'GlobalPooling',
           'build_global_pooling']
