"""Models: backbones, necks, heads, generic losses, the data preprocessor, the base of every
Re-ID model (:class:`BaseReIDModel`), the BoT baseline and AGW's model.

Importing this package registers every class in ``asym_plugins.registry.MODELS``.
"""
from .agw_model import AGW_LOSSES, AGWModel
from .backbones import (
                        IBN,
                        BaseReIDBackbone,
                        ReIDResNet,
                        ReIDViT,
                        ResNetIBN,
                        SmallReIDNet,
                        TwoStreamResNet,
                        TwoStreamSmallReIDNet,
                        check_local_checkpoint,
)
from .base_reid_model import TEST_FEATURES, BaseReIDModel
from .data_preprocessor import ReIDDataPreprocessor
from .heads import BNNeckHead
from .losses import CrossEntropyLabelSmooth, TripletLoss, WeightedRegularizedTriplet, euclidean_dist
from .necks import (
                        BNNeck,
                        GeneralizedMeanPooling,
                        GlobalAvgPool,
                        GlobalMaxPool,
                        GlobalPooling,
                        build_global_pooling,
)
from .non_local import NonLocalBlock
from .reid_baseline import DEFAULT_LOSSES, ReIDBaseline

__all__ = [
    'BaseReIDBackbone', 'check_local_checkpoint', 'ReIDResNet', 'IBN', 'ResNetIBN',
    'SmallReIDNet', 'ReIDViT', 'TwoStreamResNet', 'TwoStreamSmallReIDNet',
    'ReIDDataPreprocessor', 'BNNeckHead', 'CrossEntropyLabelSmooth', 'TripletLoss',
    'WeightedRegularizedTriplet', 'euclidean_dist', 'BNNeck', 'GeneralizedMeanPooling',
    'GlobalAvgPool', 'GlobalMaxPool', 'GlobalPooling', 'build_global_pooling', 'NonLocalBlock',
    'BaseReIDModel', 'TEST_FEATURES', 'DEFAULT_LOSSES', 'ReIDBaseline', 'AGW_LOSSES', 'AGWModel'
]
