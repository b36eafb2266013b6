"""Re-ID augmentations that mmcv does not provide (BoT recipe: pad + random crop, random erasing)."""
import math
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from asym_plugins.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PadRandomCrop(BaseTransform):
    """Zero-pad ``padding`` pixels on every side, then crop back to the input size at a random
    offset (the BoT/torchreid ``Pad(10) + RandomCrop``). Moves ``gt_seg_map`` with the image
    (padded with 0 = background).

    Examples::
        >>> t = PadRandomCrop(padding=2)
        >>> t(dict(img=np.ones((8, 4, 3), np.uint8)))['img'].shape
        (8, 4, 3)
    """

    def __init__(self, padding: int = 10, pad_val: int = 0):
        if padding < 0:
            raise ValueError(f'PadRandomCrop: padding={padding} must be >= 0.')
        self.padding = padding
        self.pad_val = pad_val

    @cache_randomness
    def _offset(self):
        return np.random.randint(0, 2 * self.padding + 1, size=2)

    def transform(self, results: dict) -> dict:
        p = self.padding
        if p == 0:
            return results
        dy, dx = self._offset()
        for key, val in (('img', self.pad_val), ('gt_seg_map', 0)):
            if key not in results:
                continue
            x = results[key]
            h, w = x.shape[:2]
            pad = ((p, p), (p, p)) + (((0, 0),) if x.ndim == 3 else ())
            results[key] = np.pad(x, pad, constant_values=val)[dy:dy + h, dx:dx + w]
        return results


@TRANSFORMS.register_module()
class RandomErasing(BaseTransform):
    """Random erasing (Zhong et al. 2020) on a uint8 RGB image, as BoT uses it.

    With probability ``prob``, a rectangle of area ratio in ``[sl, sh]`` and aspect ratio in
    ``[r1, 1/r1]`` is filled with ``fill`` (default: the ImageNet mean in 0-255, which becomes
    ~0 after normalisation, as BoT erases after normalising). The part mask is unchanged: the
    erased region is an artificial occlusion of the same body.
    """

    def __init__(self, prob: float = 0.5, sl: float = 0.02, sh: float = 0.4, r1: float = 0.3,
                 fill: Sequence[float] = (123.675, 116.28, 103.53), max_attempts: int = 100):
        if not 0 <= prob <= 1:
            raise ValueError(f'RandomErasing: prob={prob} must be in [0, 1].')
        self.prob, self.sl, self.sh, self.r1 = prob, sl, sh, r1
        self.fill = np.asarray(fill, dtype=np.float32)
        self.max_attempts = max_attempts

    @cache_randomness
    def _box(self, h: int, w: int):
        if np.random.rand() >= self.prob:
            return None
        for _ in range(self.max_attempts):
            area = np.random.uniform(self.sl, self.sh) * h * w
            aspect = np.random.uniform(self.r1, 1 / self.r1)
            eh = int(round(math.sqrt(area * aspect)))
            ew = int(round(math.sqrt(area / aspect)))
            if 0 < eh < h and 0 < ew < w:
                return np.random.randint(0, h - eh + 1), np.random.randint(0, w - ew + 1), eh, ew
        return None

    def transform(self, results: dict) -> dict:
        img = results['img']
        box = self._box(*img.shape[:2])
        if box is not None:
            y, x, eh, ew = box
            img = img.copy()
            img[y:y + eh, x:x + ew] = self.fill[:img.shape[2]].astype(img.dtype)
            results['img'] = img
        return results
