"""Loading transforms: images (from disk or already in memory) and part masks."""
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log

from asym_plugins.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadReIDImage(LoadImageFromFile):
    """Load ``results['img']`` as RGB uint8 (H, W, 3), and the part mask when one is given.

    Samples of in-memory datasets (the synthetic world) already carry ``img`` (and
    ``part_mask``); they pass through unchanged. The part mask (from ``part_mask`` or
    ``part_mask_path``) is stored as ``gt_seg_map`` so that mmcv's geometric transforms
    (``Resize``, ``RandomFlip``) move it with the image.

    Args:
        skip_undecodable: an image that cannot be read is skipped (the transform returns
            ``None`` and MMEngine's dataset draws another sample) with a logged count. Set
            ``False`` to make it fatal (always fatal at test time: test pipelines set it).
        with_part_mask: also load ``part_mask_path`` when the sample has one.
        **kwargs: :class:`mmcv.transforms.LoadImageFromFile` arguments.

    Examples::
        >>> t = LoadReIDImage()
        >>> out = t(dict(img=np.zeros((8, 4, 3), np.uint8)))
        >>> out['img_shape']
        (8, 4)
    """

    num_skipped = 0  # class-wide count over the process, reported in every warning

    def __init__(self, skip_undecodable: bool = True, with_part_mask: bool = True, **kwargs):
        kwargs.setdefault('color_type', 'color')
        super().__init__(**kwargs)
        self.skip_undecodable = skip_undecodable
        self.with_part_mask = with_part_mask

    def _read(self, path: str, flag: str) -> Optional[np.ndarray]:
        try:
            img = mmcv.imfrombytes(fileio.get(path, backend_args=self.backend_args), flag=flag,
                                   channel_order='rgb', backend=self.imdecode_backend)
        except Exception as e:  # noqa: BLE001 - any reader failure means "cannot decode"
            err = e
            img = None
        else:
            err = None
        if img is None:
            if not self.skip_undecodable:
                raise IOError(f'Cannot read or decode image {path!r} ({err or "empty decode"}). '
                              'Check the file, or remove it from the dataset.')
            LoadReIDImage.num_skipped += 1
            print_log(f'LoadReIDImage: skipped undecodable image {path!r} '
                      f'({LoadReIDImage.num_skipped} skipped so far in this process; set '
                      'skip_undecodable=False to make this fatal).', logger='current',
                      level=30)
        return img

    def transform(self, results: dict) -> Optional[dict]:
        if results.get('img') is None:
            img = self._read(results['img_path'], self.color_type)
            if img is None:
                return None
            results['img'] = img
        results['img_shape'] = results['img'].shape[:2]
        results['ori_shape'] = results['img'].shape[:2]
        if self.with_part_mask:
            mask = results.pop('part_mask', None)
            if mask is None and results.get('part_mask_path'):
                mask = self._read(results['part_mask_path'], 'unchanged')
                if mask is None:
                    return None
            if mask is not None:
                if mask.ndim == 3:
                    mask = mask[..., 0]
                if mask.shape[:2] != results['img'].shape[:2]:
                    raise ValueError(
                        f"part mask of {results.get('img_path')!r} has shape {mask.shape[:2]}, "
                        f"image {results['img'].shape[:2]}: masks must match their image.")
                results['gt_seg_map'] = mask
        return results
