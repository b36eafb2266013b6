"""Models: backbones, necks, heads, generic losses, the data preprocessor and the BoT baseline.

Importing this package registers every class in ``asym_plugins.registry.MODELS``.
"""
from .backbones import (IBN, BaseReIDBackbone, ReIDResNet, ResNetIBN, SmallReIDNet,
                        check_local_checkpoint)
from .data_preprocessor import ReIDDataPreprocessor
from .heads import BNNeckHead
from .losses import (CrossEntropyLabelSmooth, TripletLoss, WeightedRegularizedTriplet,
                     euclidean_dist)
from .necks import (BNNeck, GeneralizedMeanPooling, GlobalAvgPool, GlobalMaxPool, GlobalPooling,
                    build_global_pooling)
from .reid_baseline import DEFAULT_LOSSES, ReIDBaseline

__all__ = [
    'BaseReIDBackbone', 'check_local_checkpoint', 'ReIDResNet', 'IBN', 'ResNetIBN',
    'SmallReIDNet', 'ReIDDataPreprocessor', 'BNNeckHead', 'CrossEntropyLabelSmooth',
    'TripletLoss', 'WeightedRegularizedTriplet', 'euclidean_dist', 'BNNeck',
    'GeneralizedMeanPooling', 'GlobalAvgPool', 'GlobalMaxPool', 'GlobalPooling',
    'build_global_pooling', 'DEFAULT_LOSSES', 'ReIDBaseline'
]
