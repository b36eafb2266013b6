"""Pack a pipeline's result dict into MMEngine's ``dict(inputs=..., data_samples=...)``."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform

from asym_plugins.registry import TRANSFORMS
from asym_plugins.structures import ReIDDataSample

META_KEYS = ('img_path', 'pid', 'camid', 'modality', 'split', 'captions', 'ori_shape',
             'img_shape', 'flip', 'occluded_parts', 'visible_box')


@TRANSFORMS.register_module()
class PackReIDInputs(BaseTransform):
    """``inputs``: uint8 tensor (3, H, W); ``data_samples``: :class:`ReIDDataSample` with the
    sample's meta fields, ``gt_label`` (from ``label``, training only) and ``part_mask``
    (from ``gt_seg_map``, when present).

    Args:
        meta_keys: sample keys copied into the data sample's metainfo when present.
    """

    def __init__(self, meta_keys=META_KEYS):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = ReIDDataSample(metainfo={k: results[k] for k in self.meta_keys if k in results})
        if 'label' in results:
            sample.set_gt_label(results['label'])
        if 'gt_seg_map' in results:
            sample.part_mask = torch.from_numpy(np.ascontiguousarray(results['gt_seg_map'])).long()
        return dict(inputs=inputs, data_samples=sample)
