"""Re-ID transforms. mmcv's own ``Resize``, ``RandomFlip`` and ``Normalize`` are used as they are
(they move ``gt_seg_map``, our part mask, with the image); normalisation normally happens in the
model's data preprocessor."""
from .augment import PadRandomCrop, RandomErasing
from .formatting import PackReIDInputs
from .loading import LoadReIDImage

__all__ = ['LoadReIDImage', 'PadRandomCrop', 'RandomErasing', 'PackReIDInputs']
