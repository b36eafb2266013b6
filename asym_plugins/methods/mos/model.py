"""The MoS model (Matching on Sets, AAAI 2021) as an MMEngine model (docs/mos.md)."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from asym_plugins.methods.batch_check import check_identity_batches
from asym_plugins.models.reid_baseline import ReIDBaseline
from asym_plugins.registry import MODELS
from asym_plugins.structures import ReIDDataSample

from .conflict import PositiveCooccurrencePrior, pairwise_conflict_penalty
from .jaccard import JaccardTripletLoss

MODELS.register_module(module=JaccardTripletLoss)

#: ID loss (label smoothing) on the BNNeck logits + Jaccard triplet on the pattern vector g.
MOS_DEFAULT_LOSSES = dict(
    id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
    jaccard=dict(type='JaccardTripletLoss', margin=0.3, tau=10.0, input='feature'))

#: Metainfo key under which ``predict`` hands the prior M^p to :class:`MoSMetric`.
PRIOR_KEY = 'mos_prior'


class PriorRef:
    """A by-reference handle on the prior tensor ``M^p`` carried in data samples' metainfo.

    MMEngine deep-copies metainfo (``set_metainfo``, ``.to()``, ``.cpu()``, ``.new()``); a C x C
    prior copied into every sample would cost C^2 floats per image. Copies of this handle are
    the handle itself, so every sample of every batch points at the model's one buffer.
    """

    __slots__ = ('tensor',)

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor

    def __copy__(self) -> 'PriorRef':
        return self

    def __deepcopy__(self, memo) -> 'PriorRef':
        return self

    def __repr__(self) -> str:
        return f'PriorRef(shape={tuple(self.tensor.shape)})'


@MODELS.register_module()
class MoSModel(ReIDBaseline):
    """MoS: backbone -> ReLU'd global pooling = pattern vector ``g`` (C,) -> BNNeck -> classifier.

    * Jaccard path: ``g = relu(pool(backbone(x)))`` (non-negative; pooling ``max`` by default,
      ``gem`` / ``avg`` via ``neck``). The Jaccard triplet loss (soft Jaccard, ``docs/mos.md``
      eq. (3)) acts on ``g``; BNNeck never touches it (its output can be negative).
    * ID path: ``f_i = BNNeck(g)`` -> linear classifier -> label-smoothed cross-entropy.
    * Prior: every training batch updates ``self.prior`` (:class:`PositiveCooccurrencePrior`,
      buffer ``prior.M_p``, saved in checkpoints) from its same-identity pairs, before the losses.
    * Optional CP training term [ours, off by default: the paper applies CP at inference]:
      with ``train_cp=dict(weight=w > 0, ...)`` the triplet mines on
      ``D = 1 - J_s + w * CP`` (CP against the prior, gradients through the pattern values).
    * ``predict`` writes ``pred_feature = g`` and puts a :class:`PriorRef` (a by-reference
      handle on ``prior.M_p``, never copied) in each sample's metainfo under ``'mos_prior'``;
      :class:`MoSMetric` takes it from there. The prior is identical on all ranks (max-reduced
      at every update), so the metric on rank 0 sees the global one.

    Args:
        backbone: e.g. ``dict(type='ReIDResNet', depth=50, last_stride=1)`` (MoS) or
            ``dict(type='ResNetIBN', depth=50, last_stride=1)`` (MoS_wIBN).
        neck: pooling, default ``dict(type='GlobalPooling', pooling='max')``.
        head: ``dict(type='BNNeckHead', num_classes=N)``.
        losses: as in :class:`ReIDBaseline`; default :data:`MOS_DEFAULT_LOSSES`. A
            ``JaccardTripletLoss`` must take ``input='feature'`` (the pattern vector).
        prior: kwargs of :class:`PositiveCooccurrencePrior` other than ``channels`` (e.g.
            ``decay``); ``channels`` is the head's ``in_channels``.
        train_cp: ``dict(weight=0.0, eps=1.0, topk=32)``; ``weight > 0`` enables the CP term.
        data_preprocessor, init_cfg: as in :class:`ReIDBaseline`.

    Examples::
        >>> model = MoSModel(backbone=dict(type='SmallReIDNet', out_channels=64),
        ...                  head=dict(type='BNNeckHead', num_classes=4))
        >>> (model(torch.rand(2, 3, 64, 32), mode='tensor') >= 0).all()
        tensor(True)
    """

    def __init__(self, backbone: dict, neck: Optional[dict] = None, head: Optional[dict] = None,
                 losses: Optional[Dict[str, Optional[dict]]] = MOS_DEFAULT_LOSSES,
                 prior: Optional[dict] = None, train_cp: Optional[dict] = None,
                 data_preprocessor: Union[dict, nn.Module, None] = None,
                 init_cfg: Union[dict, list, None] = None) -> None:
        if neck is None:
            neck = dict(type='GlobalPooling', pooling='max')
        super().__init__(backbone=backbone, neck=neck, head=head, losses=losses,
                         test_feature='before_bn', data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        for name, loss in self.losses.items():
            if isinstance(loss, JaccardTripletLoss) and self.loss_inputs[name] != 'feature':
                raise ValueError(f'MoSModel: model.losses.{name} (JaccardTripletLoss) must use '
                                 f"input='feature' (the non-negative pattern vector g), got "
                                 f'{self.loss_inputs[name]!r}.')
        prior = dict(prior or {})
        if 'channels' in prior:
            raise ValueError('MoSModel: model.prior.channels is taken from the head '
                             '(in_channels); remove it.')
        self.prior = PositiveCooccurrencePrior(channels=self.head.in_channels, **prior)
        train_cp = {**dict(weight=0.0, eps=1.0, topk=32), **(train_cp or {})}
        unknown = set(train_cp) - {'weight', 'eps', 'topk'}
        if unknown:
            raise ValueError(f'MoSModel: unknown model.train_cp keys {sorted(unknown)}; '
                             f'expected weight, eps, topk.')
        self.train_cp = train_cp

    @staticmethod
    def check_train_batches(model_cfg: dict, train_dataloader: Optional[dict]) -> None:
        """Build-time check that the training sampler feeds MoS: the positive prior ``M^p``
        (every same-identity pair of a batch) and a triplet loss need K >= 2 images per
        identity; a triplet also needs P >= 2 identities. Raises ``ValueError`` naming the
        config keys."""
        losses = (model_cfg or {}).get('losses', MOS_DEFAULT_LOSSES) or {}
        triplet = any(isinstance(c, dict) and 'Triplet' in str(c.get('type', ''))
                      for c in losses.values())
        check_identity_batches(
            'MoSModel', train_dataloader, need_k=2, need_p=2 if triplet else 1,
            k_reason='the positive co-occurrence prior (model.prior, read by CP at test time)'
                     + (' and the triplet loss (model.losses)' if triplet else ''),
            p_reason='the triplet loss (model.losses)')

    def extract_feat(self, inputs: torch.Tensor):
        """Images (N, 3, H, W) -> ``(g, f_i, logits)``: g (N, C) >= 0, BNNeck feature, logits."""
        g = F.relu(self.neck(self.backbone(inputs)))
        f_i, logits = self.head(g)
        return g, f_i, logits

    def loss(self, inputs: torch.Tensor, data_samples: List[ReIDDataSample]
             ) -> Dict[str, torch.Tensor]:
        """Returns ``{'loss_<name>': ..., 'acc_id': ...}``; updates the prior first."""
        g, f_i, logits, labels = self._loss_features(inputs, data_samples)
        # Update first: this batch's positives then have no conflict with the prior.
        self.prior.update(g.detach().float(), labels)
        extra = None
        if self.train_cp['weight'] > 0:
            extra = self.train_cp['weight'] * pairwise_conflict_penalty(
                g.float(), g.float(), self.prior.M_p, eps=self.train_cp['eps'],
                topk=self.train_cp['topk'])
        sources = dict(logits=logits, feature=g, bn_feature=f_i)
        out: Dict[str, torch.Tensor] = {}
        for name, loss_fn in self.losses.items():
            source = sources[self.loss_inputs[name]]
            if isinstance(loss_fn, JaccardTripletLoss):
                out[f'loss_{name}'] = loss_fn(source, labels, extra_distance=extra)
            else:
                out[f'loss_{name}'] = loss_fn(source, labels)
        return self.add_accuracy(out, logits, labels)

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[List[ReIDDataSample]] = None) -> List[ReIDDataSample]:
        """Sets ``pred_feature = g`` (C,) and metainfo ``mos_prior`` (a :class:`PriorRef`)."""
        data_samples = super().predict(inputs, data_samples)
        ref = PriorRef(self.prior.M_p)
        for sample in data_samples:
            sample.set_field(ref, PRIOR_KEY, field_type='metainfo')
        return data_samples
