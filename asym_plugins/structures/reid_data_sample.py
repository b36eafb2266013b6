"""The data sample that travels with every image through pipeline, model and metric."""
from typing import Optional

import torch
from mmengine.structures import BaseDataElement


class ReIDDataSample(BaseDataElement):
    """One Re-ID sample.

    Meta fields (set by ``PackReIDInputs``): ``img_path``, ``pid`` (int, -1 junk), ``camid``
    (int), ``modality`` (``'visible'`` | ``'infrared'``), optionally ``captions``.
    Data fields: ``gt_label`` (LongTensor ``(1,)``, the *training* label after relabelling),
    ``part_mask`` (LongTensor ``(H, W)``, optional), ``pred_feature`` (Tensor ``(D,)``, set by a
    model in ``predict`` mode; the metric reads it).

    Examples::
        >>> s = ReIDDataSample(metainfo=dict(pid=3, camid=0))
        >>> s.set_gt_label(5).gt_label
        tensor([5])
    """

    def set_gt_label(self, label) -> 'ReIDDataSample':
        if not isinstance(label, torch.Tensor):
            label = torch.as_tensor(label, dtype=torch.long)
        self.set_field(label.reshape(-1), 'gt_label', dtype=torch.Tensor)
        return self

    @property
    def pred_feature(self) -> Optional[torch.Tensor]:
        return self._pred_feature

    @pred_feature.setter
    def pred_feature(self, value: torch.Tensor) -> None:
        self.set_field(value, '_pred_feature', dtype=torch.Tensor)

    @pred_feature.deleter
    def pred_feature(self) -> None:
        del self._pred_feature
