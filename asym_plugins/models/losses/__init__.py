"""Generic Re-ID losses (pure torch modules, registered in ``MODELS``)."""
from .cross_entropy_label_smooth import CrossEntropyLabelSmooth
from .triplet import TripletLoss, WeightedRegularizedTriplet, euclidean_dist

__all__ = ['CrossEntropyLabelSmooth', 'TripletLoss', 'WeightedRegularizedTriplet',
           'euclidean_dist']
