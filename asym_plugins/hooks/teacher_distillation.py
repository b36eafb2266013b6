"""``TeacherDistillationHook``: SAP's teacher in the MMEngine training loop."""
import os
import os.path as osp
from collections import OrderedDict
from typing import List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.hooks import Hook

from asym_plugins.methods.sap.teachers import build_teacher
from asym_plugins.registry import HOOKS


@HOOKS.register_module()
class TeacherDistillationHook(Hook):
    """Labels every training batch with the teacher's part masks (SAP, ``docs/sap.md`` eq. (1)).

    ``before_train_iter`` asks the teacher for the masks of the batch and attaches them to each
    data sample as ``part_target`` (LongTensor (H, W), part-label ids at the input resolution),
    which ``SAPModel.loss`` turns into ``m_hat`` / ``m_f``. Validation and test batches are left
    alone (the hook has no val/test callbacks): inference uses the student only.

    Batch teachers (exact synthetic masks, rules, parser on the batch) label the augmented
    images directly. Source teachers (masks on disk, keypoints, parser on the file) label the
    original image once; the result is cached by ``img_path`` (``cache_size`` entries, least
    recently used evicted) and aligned to the batch image by resizing (nearest) and mirroring
    when the sample's ``flip`` is set. Random crop offsets are not recorded in the data samples,
    so for pixel-exact masks under ``PadRandomCrop`` load them in the pipeline with
    ``LoadTeacherPartMask`` and use ``SampleMaskTeacher`` here.

    Args:
        teacher: a ``TEACHERS`` config, e.g. ``dict(type='SampleMaskTeacher')``.
        cache_size: cached source masks (0 disables the cache).
        preflight: optional list of ``dict(path=..., what=..., field=...)`` (``kind`` 'dir' or
            'file', default: either) checked when the hook is built, before any data is read;
            all missing entries are reported in one error that says what to put where.
    """

    priority = 'NORMAL'

    def __init__(self, teacher: dict, cache_size: int = 200000,
                 preflight: Optional[Sequence[dict]] = None) -> None:
        if preflight:
            check_preflight(preflight)
        self.teacher = build_teacher(teacher)
        self.cache_size = cache_size
        self._cache: 'OrderedDict[str, np.ndarray]' = OrderedDict()
        self.cache_hits = 0
        self.cache_misses = 0

    # ------------------------------------------------------------------ masks
    def _source_mask(self, meta: dict) -> np.ndarray:
        key = meta.get('img_path')
        if key is not None and self.cache_size > 0 and key in self._cache:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return self._cache[key]
        self.cache_misses += 1
        mask = np.asarray(self.teacher.source_mask(meta)).astype(np.uint8)
        if key is not None and self.cache_size > 0:
            self._cache[key] = mask
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return mask

    def masks_for_batch(self, inputs, data_samples) -> List[torch.Tensor]:
        """Teacher masks (H, W) long for a batch (``inputs``: list or stack of uint8 (3, H, W))."""
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) > 1:
                raise ValueError(f'TeacherDistillationHook: batch images differ in size '
                                 f'{sorted(shapes)}; resize them in the pipeline.')
            images = torch.stack(list(inputs))
        else:
            images = inputs
        if not getattr(self.teacher, 'source_geometry', False):
            masks = self.teacher.batch_masks(images, data_samples)
            return [m.long() for m in masks]
        h, w = images.shape[-2:]
        out = []
        for sample in data_samples:
            meta = dict(sample.metainfo)
            mask = self._source_mask(meta)
            if mask.shape[:2] != (h, w):
                mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
            if meta.get('flip') and meta.get('flip_direction', 'horizontal') == 'horizontal':
                mask = mask[:, ::-1]
            out.append(torch.from_numpy(np.ascontiguousarray(mask)).long())
        return out

    # ------------------------------------------------------------------ MMEngine callbacks
    def before_train(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        if getattr(model, 'needs_teacher', True) is False:
            runner.logger.info('TeacherDistillationHook: the model has no distillation loss on; '
                               'the teacher is still run (masks are attached but unused).')
        runner.logger.info(f'TeacherDistillationHook: teacher {self.teacher!r}.')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if not data_batch or 'data_samples' not in data_batch:
            return
        samples = data_batch['data_samples']
        for sample, mask in zip(samples, self.masks_for_batch(data_batch['inputs'], samples)):
            sample.part_target = mask

    def after_train_epoch(self, runner) -> None:
        if getattr(self.teacher, 'source_geometry', False):
            missing = getattr(self.teacher, 'num_missing', 0)
            runner.logger.info(f'TeacherDistillationHook: {len(self._cache)} cached masks, '
                               f'{self.cache_hits} hits / {self.cache_misses} misses'
                               + (f', {missing} images without a teacher mask (background)'
                                  if missing else '') + '.')


def check_preflight(entries: Sequence[dict]) -> None:
    """Raise one FileNotFoundError listing every missing ``path`` with what to put there."""
    problems = []
    for e in entries:
        path, kind = e['path'], e.get('kind')
        ok = (osp.isdir(path) if kind == 'dir' else osp.isfile(path) if kind == 'file'
              else osp.exists(path))
        if not ok:
            field = f" (config: {e['field']})" if e.get('field') else ''
            problems.append(f"  - {path}{field}: {e.get('what', 'required')}")
    if problems:
        msg = '\n'.join(problems)
        raise FileNotFoundError(f'This config needs files that are not there (relative paths '
                                f'are from {os.getcwd()}):\n{msg}\nPut them at these paths '
                                'or change the config fields named.')
