"""SAP: Semi-Attention Partition (AAAI 2023) as an MMEngine model (docs/sap.md)."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from asym_plugins.methods.batch_check import check_identity_batches
from asym_plugins.models.backbones.vit import grid_size
from asym_plugins.models.base_reid_model import TEST_FEATURES, BaseReIDModel
from asym_plugins.models.builders import build_reid_head, build_reid_losses, check_choice
from asym_plugins.registry import MODELS
from asym_plugins.structures import ReIDDataSample

from .modules import PartProxyModule
from .part_targets import (
    default_label_map,
    foreground_flag,
    map_part_labels,
    patch_attention_target,
    patch_part_distribution,
    ssd_drop_probabilities,
    ssd_keep_mask,
)

__all__ = ['SAPModel', 'SAP_DEFAULT_LOSSES', 'PartHeads']

#: ID (label smoothing, on the logits) + batch-hard triplet (on the pre-BN feature), applied to
#: the global feature and to each part feature.
SAP_DEFAULT_LOSSES = dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                          triplet=dict(type='TripletLoss', margin=0.3))
_HOOK_HINT = ("add custom_hooks = [dict(type='TeacherDistillationHook', teacher=dict(type=...))] "
              "to the config (teachers: SampleMaskTeacher, PrecomputedMaskTeacher, RuleTeacher, "
              "KeypointTeacher, ParserModelTeacher)")


class PartHeads(nn.Module):
    """K BNNeck + bias-free linear classifier heads applied to (N, K, D) part features at once
    (the same maths as K :class:`BNNeckHead` modules: BatchNorm1d is per channel, so one over
    the K*D channels; the K classifiers are one (K, C, D) weight).

    Returns ``(bn_features (N, K, D), logits (N, K, C) or None)``.
    """

    def __init__(self, num_parts: int, dims: int, num_classes: Optional[int],
                 classifier_std: float = 0.001) -> None:
        super().__init__()
        self.num_parts, self.dims = num_parts, dims
        self.bn = nn.BatchNorm1d(num_parts * dims)
        nn.init.ones_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)
        self.bn.bias.requires_grad_(False)  # BNNeck: shift frozen at zero
        self.weight = None
        if num_classes is not None:
            self.weight = nn.Parameter(torch.randn(num_parts, num_classes, dims) * classifier_std)

    def forward(self, parts: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        n = parts.shape[0]
        feats = self.bn(parts.reshape(n, -1)).reshape(n, self.num_parts, self.dims)
        logits = None if self.weight is None else torch.einsum('nkd,kcd->nkc', feats, self.weight)
        return feats, logits


@MODELS.register_module()
class SAPModel(BaseReIDModel):
    """A ViT student distilled from a (noisy) part teacher; the teacher is used in training only.

    Training (``mode='loss'``), with the teacher's part masks in each data sample's
    ``part_target`` (label ids, (H, W); attached by :class:`TeacherDistillationHook`):

    * ID + triplet on the global (CLS) feature and on each of the K part features;
    * ``m_hat``, ``m_f`` from the masks (:func:`patch_part_distribution`,
      :func:`foreground_flag`), ``A_patch`` (:func:`patch_attention_target`);
    * ``L_patch`` on the attention of ``patch_layers``; ``L_proxy`` on the proxy attention;
    * SSD drops targets of redundant patches (:func:`ssd_keep_mask`).

    Inference (``predict`` / ``tensor``) never reads a teacher: the feature is
    ``concat(global, part_feature_scale * parts)``, before or after the BNNecks.

    Every component is switchable (``None`` disables), for the ablation:

    =============  ==========================================================
    baseline       ``patch_loss=None, proxy=None`` (ViT, ID + triplet on CLS)
    +patch         ``proxy=None``
    +proxy         ``patch_loss=None``
    both (SAP)     defaults
    w/o MAPR       ``proxy=dict(..., mapr=False)``
    w/o SSD        ``ssd=None``
    =============  ==========================================================

    Args:
        backbone: a ViT with ``forward_tokens`` (``dict(type='ReIDViT', ...)``).
        num_classes: training identities (classifiers of the global and part features);
            ``None`` builds no classifiers (no ID loss).
        num_parts: K.
        part_label_map: part column (0 = background, 1..K) of each teacher label id 0..6;
            default :data:`DEFAULT_LABEL_MAPS` [K].
        part_target: ``lam`` (lambda), ``gamma``, ``pool`` of ``m_hat`` / ``m_f``.
        patch_loss: config of :class:`PatchConsistencyDistillLoss` (``loss_weight`` = alpha,
            ``temperature``, ``head_reduce``) or None.
        patch_layers: ViT layers whose attention is distilled (negative = from the end).
        proxy: ``dict(num_heads, mapr, ffn_ratio)`` of :class:`PartProxyModule`, or None (no
            part branch, global feature only).
        proxy_loss: config of :class:`ProxyConsistencyDistillLoss`, or None (proxies learn
            from ID + triplet only).
        ssd: ``dict(drop_ratio, temperature, normalize)`` or None.
        losses: ID / metric loss configs routed as in :class:`ReIDBaseline` (``input``:
            ``'logits'``, ``'feature'`` = the pre-BN feature, ``'bn_feature'``; default what
            the loss type declares), applied to the global feature and to every part.
        part_loss_weight: weight of the mean part ID + triplet loss relative to the global one.
        part_feature_scale: factor of the part features in the test feature (default 1/K, so
            that the K parts together weigh as the global feature) [ours].
        test_feature: ``'before_bn'`` (TransReID's Occluded-Duke choice) or ``'after_bn'``.
        data_preprocessor: default ``dict(type='ReIDDataPreprocessor')``.

    Examples::
        >>> model = SAPModel(backbone=dict(type='ReIDViT', arch='cpu', img_size=(64, 32)),
        ...                  num_classes=10)
        >>> model(torch.rand(2, 3, 64, 32), mode='tensor').shape   # 128 * (1 + 4)
        torch.Size([2, 640])
    """

    def __init__(self, backbone: dict, num_classes: Optional[int] = None, num_parts: int = 4,
                 part_label_map: Optional[Sequence[int]] = None,
                 part_target: Optional[dict] = None,
                 patch_loss: Optional[dict] = dict(type='PatchConsistencyDistillLoss'),
                 patch_layers: Sequence[int] = (-1, ),
                 proxy: Optional[dict] = dict(num_heads=1, mapr=True),
                 proxy_loss: Optional[dict] = dict(type='ProxyConsistencyDistillLoss'),
                 ssd: Optional[dict] = dict(drop_ratio=0.25),
                 losses: Optional[Dict[str, Optional[dict]]] = SAP_DEFAULT_LOSSES,
                 part_loss_weight: float = 1.0, part_feature_scale: Optional[float] = None,
                 test_feature: str = 'before_bn',
                 data_preprocessor: Union[dict, nn.Module, None] = None,
                 init_cfg: Union[dict, list, None] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        check_choice(test_feature, TEST_FEATURES, 'SAPModel', 'test_feature')
        self.backbone = MODELS.build(backbone)
        if not hasattr(self.backbone, 'forward_tokens'):
            raise TypeError(f'SAPModel needs a ViT backbone with forward_tokens (e.g. '
                            f"dict(type='ReIDViT')), got {type(self.backbone).__name__}.")
        dims = self.backbone.embed_dims
        self.num_classes = num_classes
        self.num_parts = num_parts
        self.part_label_map = tuple(part_label_map) if part_label_map is not None \
            else default_label_map(num_parts)
        if max(self.part_label_map) > num_parts or min(self.part_label_map) < 0:
            raise ValueError(f'SAPModel: part_label_map {self.part_label_map} must map label ids '
                             f'to columns 0..{num_parts} (model.part_label_map).')
        target_cfg = dict(lam=10.0, gamma=0.5, pool='mean')
        target_cfg.update(part_target or {})
        self.part_target_cfg = target_cfg
        self.test_feature = test_feature
        self.part_loss_weight = part_loss_weight
        self.part_feature_scale = (1.0 / num_parts) if part_feature_scale is None \
            else part_feature_scale

        self.head = build_reid_head(dict(num_classes=num_classes), dims, 'SAPModel')
        self.patch_loss = MODELS.build(copy.deepcopy(dict(patch_loss))) if patch_loss else None
        self.patch_layers = tuple(patch_layers)
        if self.patch_loss is not None and not self.patch_layers:
            raise ValueError('SAPModel: patch_loss is set but patch_layers is empty.')
        self.proxy = None
        self.part_heads = None
        if proxy is not None:
            proxy = dict(proxy)
            self.proxy = PartProxyModule(dims, num_parts, **proxy)
            self.part_heads = PartHeads(num_parts, dims, num_classes)
        if proxy_loss and self.proxy is None:
            proxy_loss = None  # no proxies: nothing to supervise
        self.proxy_loss = MODELS.build(copy.deepcopy(dict(proxy_loss))) if proxy_loss else None
        self.ssd_cfg = dict(drop_ratio=0.25, temperature=None, normalize=True)
        if ssd is not None:
            self.ssd_cfg.update(ssd)
        self.use_ssd = ssd is not None and (self.patch_loss is not None
                                            or self.proxy_loss is not None)
        self.losses, self.loss_inputs = build_reid_losses(losses, 'SAPModel')
        if 'logits' in self.loss_inputs.values() and num_classes is None:
            raise ValueError('SAPModel: an ID loss is configured but model.num_classes is None; '
                             'set it to the number of training identities.')

    @staticmethod
    def check_train_batches(model_cfg: dict, train_dataloader: Optional[dict]) -> None:
        """Build-time check that the training sampler feeds a triplet loss (K >= 2 images per
        identity, P >= 2 identities per batch); raises ``ValueError`` naming the keys."""
        losses = (model_cfg or {}).get('losses', SAP_DEFAULT_LOSSES) or {}
        if any(isinstance(c, dict) and 'Triplet' in str(c.get('type', ''))
               for c in losses.values()):
            check_identity_batches('SAPModel', train_dataloader, need_k=2, need_p=2,
                                   k_reason='the triplet loss (model.losses)',
                                   p_reason='the triplet loss (model.losses)')

    @property
    def needs_teacher(self) -> bool:
        """Whether training reads part targets (some distillation loss is on)."""
        return self.patch_loss is not None or self.proxy_loss is not None

    @property
    def feature_dims(self) -> int:
        return self.backbone.embed_dims * (1 + (self.num_parts if self.proxy is not None else 0))

    # ------------------------------------------------------------------ features
    def _encode(self, inputs: torch.Tensor, attn_layers: Sequence[int] = ()):
        tokens, attn = self.backbone.forward_tokens(inputs, attn_layers=attn_layers)
        glob, patches = tokens[:, 0], tokens[:, 1:]
        parts, proxy_logits = (None, None)
        if self.proxy is not None:
            parts, proxy_logits = self.proxy(patches)
        return glob, patches, parts, proxy_logits, attn

    def test_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) -> test features (N, D * (1 + K)); no teacher involved."""
        glob, _, parts, _, _ = self._encode(inputs)
        after_bn = self.test_feature == 'after_bn'
        feats = [self.head(glob)[0] if after_bn else glob]
        if parts is not None:
            p = self.part_heads(parts)[0] if after_bn else parts
            feats.append(p.flatten(1) * self.part_feature_scale)
        return torch.cat(feats, dim=1)

    @torch.no_grad()
    def part_maps(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        """What the student looks at, on the patch grid (for visualisation; no teacher).

        Returns ``cls`` (N, rows, cols): the last layer's CLS -> patch attention (softmax,
        mean over heads) and, with the part branch, ``proxy`` (N, K, rows, cols): each part
        proxy's attention over the patches (softmax of the logits ``L_proxy`` supervises, mean
        over heads; every map sums to 1), ``proxy_scaled``: each map min-max scaled to [0, 1]
        (what a heat map shows) and ``assignment`` (N, rows, cols): the part (0..K-1) whose
        scaled map is highest at a patch.
        """
        glob, _, _, proxy_logits, attn = self._encode(inputs, attn_layers=(-1, ))
        rows, cols = grid_size(tuple(inputs.shape[-2:]), self.backbone.patch_size,
                               self.backbone.stride)
        n = inputs.shape[0]
        cls = attn[0][:, :, 0, 1:].softmax(-1).mean(1)  # softmax over patches only
        out = dict(cls=cls.reshape(n, rows, cols))
        if proxy_logits is not None:
            proxy = proxy_logits.softmax(-1).mean(1).reshape(n, self.num_parts, rows, cols)
            lo = proxy.flatten(2).amin(-1)[..., None, None]
            hi = proxy.flatten(2).amax(-1)[..., None, None]
            scaled = (proxy - lo) / (hi - lo).clamp(min=1e-12)
            out.update(proxy=proxy, proxy_scaled=scaled, assignment=scaled.argmax(1))
        return out

    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        """MMEngine's name for :meth:`test_features`."""
        return self.test_features(inputs)

    # ------------------------------------------------------------------ training
    def part_targets(self, data_samples: List[ReIDDataSample], size: Tuple[int, int],
                     device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(m_hat (N, L, K+1), m_f (N, L))`` from the samples' ``part_target`` masks."""
        missing = [i for i, s in enumerate(data_samples) if 'part_target' not in s]
        if missing:
            raise ValueError(f'SAPModel: {len(missing)} of {len(data_samples)} training samples '
                             f'have no part_target (teacher mask), but L_patch/L_proxy are on; '
                             f'{_HOOK_HINT}, or disable them (model.patch_loss=None, '
                             f'model.proxy_loss=None).')
        masks = torch.stack([s.part_target.to(device) for s in data_samples])
        if tuple(masks.shape[-2:]) != tuple(size):
            raise ValueError(f'SAPModel: teacher masks are {tuple(masks.shape[-2:])}, images '
                             f'{tuple(size)}; masks must be given at the input resolution.')
        cols = map_part_labels(masks, self.part_label_map)
        cfg = self.part_target_cfg
        m_hat = patch_part_distribution(cols, self.num_parts, self.backbone.patch_size,
                                        self.backbone.stride, cfg['lam'], cfg['pool'])
        return m_hat, foreground_flag(m_hat, cfg['gamma'])

    def _reid_losses(self, feat: torch.Tensor, labels: torch.Tensor
                     ) -> Tuple[Dict[str, torch.Tensor], Optional[torch.Tensor]]:
        """The ID / metric losses of the global feature, each on its routed input."""
        bn_feat, logits = self.head(feat)
        sources = dict(logits=logits, feature=feat, bn_feature=bn_feat)
        out = {}
        for name, fn in self.losses.items():
            out[f'loss_{name}'] = fn(sources[self.loss_inputs[name]], labels)
        return out, logits

    def _part_losses(self, parts: torch.Tensor, labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Mean over the K parts of each ID / metric loss, times ``part_loss_weight``."""
        bn_parts, logits = self.part_heads(parts)  # (N, K, D), (N, K, C)
        n, k = parts.shape[:2]
        out = {}
        for name, fn in self.losses.items():
            source = self.loss_inputs[name]
            if source == 'logits':
                # One call over the N*K rows = the mean of the K per-part means.
                val = fn(logits.reshape(n * k, -1), labels.repeat_interleave(k))
            else:
                feats = parts if source == 'feature' else bn_parts
                val = torch.stack([fn(feats[:, i], labels) for i in range(k)]).mean()
            out[f'loss_part_{name}'] = val * self.part_loss_weight
        return out

    def loss(self, inputs: torch.Tensor, data_samples: List[ReIDDataSample]
             ) -> Dict[str, torch.Tensor]:
        labels = self.labels(data_samples, inputs.device)
        if 'logits' in self.loss_inputs.values():
            self.check_labels(labels, self.num_classes, 'model.num_classes')
        attn_layers = self.patch_layers if self.patch_loss is not None else ()
        glob, patches, parts, proxy_logits, attn = self._encode(inputs, attn_layers)

        out, logits = self._reid_losses(glob, labels)
        if parts is not None:
            out.update(self._part_losses(parts, labels))

        if self.needs_teacher:
            m_hat, m_f = self.part_targets(data_samples, tuple(inputs.shape[-2:]), inputs.device)
            keep = None
            if self.use_ssd:
                p = ssd_drop_probabilities(patches.detach(), self.ssd_cfg['normalize'],
                                           self.ssd_cfg['temperature'])
                keep = ssd_keep_mask(p, self.ssd_cfg['drop_ratio'])
            if self.patch_loss is not None:
                out['loss_patch'] = self.patch_loss(attn, patch_attention_target(m_hat, m_f),
                                                    keep)
            if self.proxy_loss is not None:
                out['loss_proxy'] = self.proxy_loss(proxy_logits, m_hat, keep)
        return self.add_accuracy(out, logits, labels)
