"""The one base of every Re-ID model of this package (:class:`ReIDBaseline` and its
subclasses MoS / AGW, ``SAPModel``, ``MCMAModel``).

A model implements only :meth:`BaseReIDModel.test_features` (images -> the test feature batch)
and :meth:`BaseReIDModel.loss`; the base does the rest the same way everywhere:

* ``forward(inputs, data_samples, mode)``: ``'loss'`` -> :meth:`loss`, ``'predict'`` ->
  :meth:`predict` (``pred_feature`` (D,) on each data sample), ``'tensor'`` ->
  :meth:`test_features` (N, D); any other mode is a ``ValueError``;
* :meth:`labels`: the training labels (``gt_label``) of a batch, with one error message;
* :meth:`check_labels`: labels in ``[0, num_classes)`` before an ID loss reads them;
* :meth:`add_accuracy`: ``acc_id``, the top-1 training accuracy of the ID classifier.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel

from asym_plugins.structures import ReIDDataSample

from .builders import build_data_preprocessor, set_pred_features

__all__ = ['BaseReIDModel', 'MODES', 'TEST_FEATURES']

#: The modes of ``forward``.
MODES = ('loss', 'predict', 'tensor')
#: Test feature of the BNNeck models: after the BNNeck (``f_i``, BoT) or before it (``f_t``).
TEST_FEATURES = ('after_bn', 'before_bn')


class BaseReIDModel(BaseModel):
    """``forward(mode)`` dispatch, training labels, label checks, ``acc_id`` and prediction
    packing shared by the Re-ID models (module docstring).

    Args:
        data_preprocessor: config or module; ``None``: ``dict(type='ReIDDataPreprocessor')``.
        init_cfg: MMEngine init config of the whole model.
    """

    def __init__(self, data_preprocessor: Union[dict, nn.Module, None] = None,
                 init_cfg: Union[dict, list, None] = None) -> None:
        super().__init__(data_preprocessor=build_data_preprocessor(data_preprocessor),
                         init_cfg=init_cfg)

    # ------------------------------------------------------------ what a model implements
    def test_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) -> test features (N, D)."""
        raise NotImplementedError

    def loss(self, inputs: torch.Tensor, data_samples: List[ReIDDataSample]
             ) -> Dict[str, torch.Tensor]:
        """``{'loss_<name>': scalar, ...}`` plus logged values such as ``acc_id``."""
        raise NotImplementedError

    # ------------------------------------------------------------ shared
    def forward(self, inputs: torch.Tensor, data_samples: Optional[List[ReIDDataSample]] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.test_features(inputs)
        raise ValueError(f'{type(self).__name__}: unknown mode {mode!r}; use "loss", '
                         f'"predict" or "tensor".')

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[List[ReIDDataSample]] = None) -> List[ReIDDataSample]:
        """Sets ``pred_feature`` (D,) on each sample (new samples when none are given)."""
        return set_pred_features(self.test_features(inputs).detach(), data_samples,
                                 type(self).__name__)

    def labels(self, data_samples: Optional[Sequence[ReIDDataSample]],
               device: Union[torch.device, str, None] = None) -> torch.Tensor:
        """The ``gt_label`` of every training sample as a LongTensor (N,) on ``device``."""
        if not data_samples or any('gt_label' not in ds for ds in data_samples):
            raise ValueError(f'{type(self).__name__}.loss needs data_samples with gt_label '
                             f'(the relabelled training pid); pack training samples with '
                             f'PackReIDInputs from a dataset built with split="train".')
        return torch.cat([ds.gt_label.reshape(-1) for ds in data_samples]).long().to(device)

    def check_labels(self, labels: torch.Tensor, num_classes: Optional[int],
                     key: str = 'model.head.num_classes') -> None:
        """``ValueError`` naming ``key`` unless every label lies in ``[0, num_classes)``."""
        name = type(self).__name__
        if num_classes is None:
            raise ValueError(f'{name}: an ID loss is configured but {key} is None; set {key} '
                             f'to the number of training identities, N (or disable it with '
                             f'model.losses.id=None).')
        if labels.numel() == 0:
            return
        low, high = int(labels.min()), int(labels.max())
        if low < 0:
            raise ValueError(f'{name}: training label {low} < 0; junk samples (pid -1) must not '
                             f'reach the training set (relabel the train split).')
        if high >= num_classes:
            raise ValueError(f'{name}: training label {high} >= {key}={num_classes}; set {key} '
                             f'to the number of training identities, N (here at least '
                             f'{high + 1}).')

    @staticmethod
    def add_accuracy(out: Dict[str, torch.Tensor], logits: Optional[torch.Tensor],
                     labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Adds ``acc_id`` (top-1 accuracy of ``logits`` (N, C)) when there are logits."""
        if logits is not None:
            with torch.no_grad():
                out['acc_id'] = (logits.argmax(dim=1) == labels).float().mean()
        return out
