"""The BoT strong baseline (Luo et al. 2019) as an MMEngine model."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn

from asym_plugins.registry import MODELS
from asym_plugins.structures import ReIDDataSample

from .base_reid_model import TEST_FEATURES, BaseReIDModel
from .builders import build_reid_head, build_reid_losses, check_choice

__all__ = ['ReIDBaseline', 'DEFAULT_LOSSES']

#: Losses of the BoT recipe: ID loss with label smoothing + batch-hard triplet (margin 0.3).
DEFAULT_LOSSES = dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                      triplet=dict(type='TripletLoss', margin=0.3))


@MODELS.register_module()
class ReIDBaseline(BaseReIDModel):
    """backbone -> pooling neck (``f_t``) -> BNNeck (``f_i``) -> linear classifier.

    Training (``mode='loss'``) sums the configured losses: by default the label-smoothed ID
    loss on the logits and the batch-hard triplet loss on ``f_t``. Testing
    (``mode='predict'``) writes ``f_i`` (``test_feature='after_bn'``) or ``f_t``
    (``'before_bn'``) to each data sample's ``pred_feature``, on the model's device.
    ``mode='tensor'`` returns that feature batch (N, D).

    Args:
        backbone: config of a backbone returning (N, C, H, W) maps (or a tuple of them, whose
            last one is used), e.g. ``dict(type='ReIDResNet', depth=50, last_stride=1)``.
        neck: pooling config, default ``dict(type='GlobalPooling', pooling='avg')``.
        head: ``dict(type='BNNeckHead', num_classes=N)``; ``in_channels`` defaults to the
            backbone's ``out_channels``. ``num_classes`` (the number of training identities)
            is needed for the ID loss only.
        losses: dict name -> loss config (a ``MODELS`` type); ``None`` as a value disables that
            loss. Each config may carry ``input`` (one of ``'logits'``, ``'feature'`` = f_t,
            ``'bn_feature'`` = f_i); by default what the loss type declares
            (``CrossEntropyLabelSmooth``: logits, triplet losses: ``f_t``), else logits for
            ``'id'`` and ``f_t`` for the others. Weights go in each loss's ``loss_weight``.
            Output keys are ``loss_<name>``.
        test_feature: ``'after_bn'`` (BoT) or ``'before_bn'``.
        data_preprocessor: default ``dict(type='ReIDDataPreprocessor')``.
        init_cfg: MMEngine init config of the whole model.

    Examples::
        >>> model = ReIDBaseline(backbone=dict(type='SmallReIDNet', out_channels=256),
        ...                      head=dict(type='BNNeckHead', num_classes=10))
        >>> model(torch.rand(8, 3, 128, 64), mode='tensor').shape
        torch.Size([8, 256])
    """

    def __init__(self, backbone: dict, neck: Optional[dict] = None, head: Optional[dict] = None,
                 losses: Optional[Dict[str, Optional[dict]]] = DEFAULT_LOSSES,
                 test_feature: str = 'after_bn',
                 data_preprocessor: Union[dict, nn.Module, None] = None,
                 init_cfg: Union[dict, list, None] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        check_choice(test_feature, TEST_FEATURES, 'ReIDBaseline', 'test_feature')
        self.test_feature = test_feature

        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck if neck is not None
                                 else dict(type='GlobalPooling', pooling='avg'))
        self.head = build_reid_head(head, getattr(self.backbone, 'out_channels', None),
                                    source=f'backbone {type(self.backbone).__name__}')
        self.losses, self.loss_inputs = build_reid_losses(losses)

    @property
    def num_classes(self) -> Optional[int]:
        return getattr(self.head, 'num_classes', None)

    def extract_feat(self, inputs: torch.Tensor
                     ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """Images (N, 3, H, W) -> ``(f_t, f_i, logits)``; logits is None without a classifier."""
        f_t = self.neck(self.backbone(inputs))
        f_i, logits = self.head(f_t)
        return f_t, f_i, logits

    def test_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Images -> ``f_i`` (``test_feature='after_bn'``) or ``f_t`` (``'before_bn'``)."""
        f_t, f_i, _ = self.extract_feat(inputs)
        return f_i if self.test_feature == 'after_bn' else f_t

    def _loss_features(self, inputs: torch.Tensor, data_samples: List[ReIDDataSample]
                       ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor],
                                  torch.Tensor]:
        """``(f_t, f_i, logits, labels)`` of a training batch, labels checked against the
        classifier when a loss reads the logits."""
        if len(self.losses) == 0:
            raise ValueError(f'{type(self).__name__}: no loss configured (model.losses is '
                             f'empty).')
        f_t, f_i, logits = self.extract_feat(inputs)
        labels = self.labels(data_samples, f_t.device)
        if 'logits' in self.loss_inputs.values():
            self.check_labels(labels, self.num_classes)
        return f_t, f_i, logits, labels

    def loss(self, inputs: torch.Tensor, data_samples: List[ReIDDataSample]
             ) -> Dict[str, torch.Tensor]:
        """Returns ``{'loss_<name>': scalar, ..., 'acc_id': top-1 training accuracy}``."""
        f_t, f_i, logits, labels = self._loss_features(inputs, data_samples)
        sources = dict(logits=logits, feature=f_t, bn_feature=f_i)
        out: Dict[str, torch.Tensor] = {}
        for name, loss_fn in self.losses.items():
            out[f'loss_{name}'] = loss_fn(sources[self.loss_inputs[name]], labels)
        return self.add_accuracy(out, logits, labels)
