"""MMEngine metrics (registered in ``METRICS``)."""
from .cross_modality_metric import RegDBMetric, SYSUMetric
from .reid_metric import ReIDMetric
from .text_image_metric import TextImageMetric

__all__ = ['ReIDMetric', 'SYSUMetric', 'RegDBMetric', 'TextImageMetric']
