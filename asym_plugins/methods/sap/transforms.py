"""Pipeline access to SAP's source teachers: the teacher mask enters the pipeline as
``gt_seg_map`` so that every geometric transform (Resize, RandomFlip, PadRandomCrop) moves it
with the image, pixel-exactly."""
import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from asym_plugins.registry import TRANSFORMS

from .teachers import build_teacher


@TRANSFORMS.register_module()
class LoadTeacherPartMask(BaseTransform):
    """Set ``results['gt_seg_map']`` to a teacher's mask of the sample's original image.

    Place it right after ``LoadReIDImage`` (before geometric transforms) in the *training*
    pipeline, and use ``dict(type='SampleMaskTeacher')`` in the ``TeacherDistillationHook``.
    Masks of another size than the image are resized (nearest).

    Args:
        teacher: a teacher config with ``source_mask`` (``PrecomputedMaskTeacher``,
            ``KeypointTeacher``, ``RuleTeacher``, ``ParserModelTeacher``).

    Examples::
        >>> t = LoadTeacherPartMask(teacher=dict(type='RuleTeacher'))
        >>> t(dict(img=np.zeros((16, 8, 3), np.uint8), img_path='x.jpg'))['gt_seg_map'].shape
        (16, 8)
    """

    def __init__(self, teacher: dict) -> None:
        self.teacher = build_teacher(teacher)

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        info = dict(img_path=results.get('img_path'), ori_shape=(h, w), img=img)
        mask = np.asarray(self.teacher.source_mask(info)).astype(np.uint8)
        if mask.shape[:2] != (h, w):
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
        results['gt_seg_map'] = mask
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(teacher={self.teacher!r})'
