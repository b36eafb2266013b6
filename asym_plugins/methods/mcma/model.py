"""MCMA: Multi-level Cross-Modality Alignment for text -> image person search
(docs/mcma.md) as an MMEngine model."""
import copy
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log

from asym_plugins.methods.batch_check import check_identity_batches
from asym_plugins.models.base_reid_model import BaseReIDModel
from asym_plugins.models.builders import set_pred_features
from asym_plugins.registry import MODELS
from asym_plugins.structures import ReIDDataSample

from .loss_modules import (  # noqa: F401
    BisimulationLoss,
    CrossModalIDLoss,
    InfoNCELoss,
    MaskedPatchReconLoss,
    SDMLoss,
)
from .losses import (
    DeviationPredictor,
    cross_instance_partners,
    normalized_pixel_targets,
    patchify,
    random_patch_mask,
)
from .modules import ModalitySharedDecoder, vit_visible_tokens
from .text_encoder import (
    build_text_encoder,
    load_tokenizer,
    resolve_text_encoder_path,
    text_encoder_kwargs,
    tokenize,
)

__all__ = ['MCMAModel', 'MCMA_DEFAULT_LOSSES', 'MATCHING_TYPE_ALIASES', 'POOLINGS']

#: Every loss of full MCMA (``MODELS`` types of :mod:`.loss_modules`, each called on its slot's
#: inputs); ``None`` for a key disables that part (the ablation). ``bisim`` also carries
#: ``predictor_hidden_dims``, the width of the deviation predictor (a model part).
MCMA_DEFAULT_LOSSES = dict(
    matching=dict(type='SDMLoss', temperature=0.02, loss_weight=1.0),
    id=dict(type='CrossModalIDLoss', loss_weight=1.0, label_smoothing=0.0),
    self_recon=dict(type='MaskedPatchReconLoss', loss_weight=1.0),
    cross_recon=dict(type='MaskedPatchReconLoss', loss_weight=1.0),
    bisim=dict(type='BisimulationLoss', loss_weight=1.0, temperature=1.0,
               predictor_hidden_dims=None),
)
#: Short names of the matching losses that configs may use as ``model.losses.matching.type``.
MATCHING_TYPE_ALIASES = dict(sdm='SDMLoss', infonce='InfoNCELoss')
POOLINGS = ('cls', 'mean')


def _pool(tokens: torch.Tensor, how: str, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    if how == 'cls':
        return tokens[:, 0]
    if mask is None:
        return tokens.mean(dim=1)
    w = mask.to(tokens.dtype)[..., None]
    return (tokens * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)


@MODELS.register_module()
class MCMAModel(BaseReIDModel):
    """ViT image encoder + ``transformers`` text encoder, linear projections to a joint space
    of ``embed_dims``, a modality-shared decoder, and MCMA's losses.

    Training batch: N images, each with one of its captions, from an
    ``IdentitySampler`` with ``num_instances >= 2`` (the cross-instance pairs need two images
    per identity). Losses (keys of ``losses``; ``None`` disables one):

    * ``matching``: global image-text matching, ``type='SDMLoss'`` (IRRA; short name
      ``'sdm'``) or ``'InfoNCELoss'`` (CLIP; ``'infonce'``), with ``temperature``;
    * ``id``: one classifier on both modalities' global features (``num_classes`` needed);
    * ``self_recon``: ``T_hat^v_{A,m} = E_rec({Z^v_{A,um}, Z^m, z^t_{A,glo}})``: a random
      ``mask_ratio`` of image A's patches is dropped, the ViT encodes the visible ones, and the
      shared decoder reconstructs the masked patches prompted by A's global text feature;
      normalised-pixel MSE on masked patches only (MAE);
    * ``cross_recon``: the same for image B, another image of A's identity (same identity,
      different image: :func:`cross_instance_partners`), prompted by A's text;
    * ``bisim``: cross-identity bisimulation with the deviation predictor
      (:func:`bisimulation_loss`, ``temperature``, ``predictor_hidden_dims``) on the
      L2-normalised global features.

    ``shared_decoder=True`` also runs the decoder over each modality's projected tokens before
    pooling ("baseline + modality-shared decoder" [ours: the slides name the component, not its
    wiring]); reconstruction always uses it. Ablation switches:

    ==================  ============================================================
    baseline            ``shared_decoder=False``, self_recon/cross_recon/bisim None
    + shared decoder    ``shared_decoder=True``, self_recon/cross_recon/bisim None
    + self              + ``self_recon``
    + self + cross      + ``self_recon``, ``cross_recon``
    + bisim             ``shared_decoder=True`` + ``bisim``
    all (MCMA)          defaults
    ==================  ============================================================

    Test (``predict``): every sample gets ``pred_feature`` (its image's global feature, (D,))
    and, when it carries captions (tokens), ``text_features`` ((C, D), one per caption), as
    ``TextImageMetric`` reads them: the test dataset is the captioned test images (the
    ``'query'`` split of the caption datasets), every caption a query, every image the gallery.

    Tokenisation happens in the data pipeline (:class:`TokenizeCaptions` after
    ``PackReIDInputs``: workers tokenise in parallel, and drawing a training caption per image
    is data sampling). Samples without tokens but with ``captions`` are tokenised by the model
    with the text encoder's own tokenizer (plain Python use: :meth:`encode_text` takes strings).

    Args:
        image_encoder: ``dict(type='ReIDViT', ...)`` (``out_type`` is ignored: tokens are used).
        text_encoder: :class:`HFTextEncoder` arguments (``pretrained`` local folder or None for
            the packaged MiniLM, ``load_weights``, ``num_layers``, ``config_overrides``) plus
            ``max_length`` (for captions the model tokenises itself).
        embed_dims: joint-space width D.
        num_classes: training identities (ID loss); None = no ID loss.
        shared_decoder: run the shared decoder in the matching path.
        decoder: ``depth``, ``num_heads``, ``mlp_ratio``, ``dropout``, ``prompt`` of the shared
            decoder (:class:`ModalitySharedDecoder`).
        mask_ratio: share of masked patches.
        norm_pix: normalised-pixel targets (MAE); False = the raw (normalised-image) pixels.
        image_pooling / text_pooling: ``'cls'`` or ``'mean'`` (over valid tokens).
        losses: see above; merged key by key into :data:`MCMA_DEFAULT_LOSSES` (unknown keys
            are an error); each enabled one is built from ``MODELS`` (``loss_weight`` and the
            type's arguments) and called on its slot's inputs (:mod:`.loss_modules`).
        data_preprocessor: default ``dict(type='ReIDDataPreprocessor')``.

    Examples::
        >>> model = MCMAModel(image_encoder=dict(type='ReIDViT', arch='cpu', img_size=(64, 32),
        ...                                      patch_size=16, stride=16),
        ...                   text_encoder=dict(num_layers=2), embed_dims=128, num_classes=10)
        >>> model.encode_text(['a man in a red shirt']).shape
        torch.Size([1, 128])
    """

    def __init__(self, image_encoder: dict, text_encoder: Union[dict, nn.Module, None] = None,
                 embed_dims: int = 512, num_classes: Optional[int] = None,
                 shared_decoder: bool = True, decoder: Optional[dict] = None,
                 mask_ratio: float = 0.75, norm_pix: bool = True, image_pooling: str = 'cls',
                 text_pooling: str = 'cls',
                 losses: Optional[Dict[str, Optional[dict]]] = None,
                 data_preprocessor: Union[dict, nn.Module, None] = None,
                 init_cfg: Union[dict, list, None] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        for name, value in (('image_pooling', image_pooling), ('text_pooling', text_pooling)):
            if value not in POOLINGS:
                raise ValueError(f'MCMAModel: model.{name} must be one of {POOLINGS}, '
                                 f'got {value!r}.')
        self.image_pooling, self.text_pooling = image_pooling, text_pooling
        if not isinstance(text_encoder, nn.Module):  # fail before building a large ViT
            text_encoder_kwargs(text_encoder)
            resolve_text_encoder_path((text_encoder or {}).get('pretrained'))
        self.losses_cfg = self._merge_losses(losses)
        self.losses = self._build_losses(self.losses_cfg)

        image_encoder = dict(image_encoder)
        image_encoder.pop('out_type', None)
        self.image_encoder = MODELS.build(image_encoder)
        if hasattr(self.image_encoder, 'init_cfg_field'):  # errors name our config field
            self.image_encoder.init_cfg_field = 'model.image_encoder.init_cfg.checkpoint'
        text_cfg = dict(text_encoder or {}) if not isinstance(text_encoder, nn.Module) else {}
        self.max_length = int(text_cfg.get('max_length', 64))
        self.text_encoder = build_text_encoder(text_encoder)
        self._tokenizer = None

        self.embed_dims = int(embed_dims)
        self.image_proj = nn.Linear(self.image_encoder.embed_dims, self.embed_dims)
        self.text_proj = nn.Linear(self.text_encoder.out_channels, self.embed_dims)
        self.num_classes = num_classes
        self.classifier = None
        if self.losses_cfg.get('id') is not None:
            if num_classes is None:
                raise ValueError('MCMAModel: the ID loss needs model.num_classes (the number of '
                                 'training identities); or set model.losses.id=None.')
            self.classifier = nn.Linear(self.embed_dims, int(num_classes))
            nn.init.normal_(self.classifier.weight, std=0.001)
            nn.init.zeros_(self.classifier.bias)

        self.use_shared_decoder = bool(shared_decoder)
        self.mask_ratio = float(mask_ratio)
        self.norm_pix = norm_pix
        self.do_self = self.losses_cfg.get('self_recon') is not None
        self.do_cross = self.losses_cfg.get('cross_recon') is not None
        self.decoder = None
        if self.use_shared_decoder or self.do_self or self.do_cross:
            vit = self.image_encoder
            if not hasattr(vit, 'num_patches'):
                raise TypeError('MCMAModel: the shared decoder needs a ReIDViT image encoder '
                                f'(model.image_encoder), got {type(vit).__name__}.')
            in_ch = vit.patch_embed.proj.in_channels
            dec = dict(depth=2, num_heads=8, mlp_ratio=4.0, dropout=0.0)
            dec.update(decoder or {})
            pixels = in_ch * vit.patch_size ** 2 if (self.do_self or self.do_cross) else None
            self.decoder = ModalitySharedDecoder(self.embed_dims, vit.num_patches, pixels, **dec)
        self.predictor = None
        bisim = self.losses_cfg.get('bisim')
        if bisim is not None:
            self.predictor = DeviationPredictor(self.embed_dims,
                                                bisim.get('predictor_hidden_dims'))

    # ------------------------------------------------------------ config
    @staticmethod
    def _build_losses(losses_cfg: Dict[str, Optional[dict]]) -> nn.ModuleDict:
        """The enabled losses, each built from ``MODELS`` (``predictor_hidden_dims`` is the
        deviation predictor's, not the loss's)."""
        out = nn.ModuleDict()
        for name, cfg in losses_cfg.items():
            if cfg is None:
                continue
            cfg = {k: v for k, v in cfg.items() if k != 'predictor_hidden_dims'}
            cfg['type'] = MATCHING_TYPE_ALIASES.get(cfg.get('type'), cfg.get('type'))
            if MODELS.get(cfg['type']) is None:
                raise ValueError(f'MCMAModel: model.losses.{name}.type {cfg["type"]!r} is not a '
                                 f'MODELS type; the default is '
                                 f'{MCMA_DEFAULT_LOSSES[name]["type"]!r}'
                                 + (f' (short names {sorted(MATCHING_TYPE_ALIASES)})'
                                    if name == 'matching' else '') + '.')
            out[name] = MODELS.build(cfg)
        return out

    @staticmethod
    def _merge_losses(losses: Optional[Dict[str, Optional[dict]]]
                      ) -> Dict[str, Optional[dict]]:
        out = copy.deepcopy(MCMA_DEFAULT_LOSSES)
        for name, cfg in (losses or {}).items():
            if name not in out:
                raise KeyError(f'MCMAModel: unknown loss model.losses.{name}; the losses are '
                               f'{sorted(out)} (None disables one).')
            if cfg is None:
                out[name] = None
            else:
                base = MCMA_DEFAULT_LOSSES[name]
                out[name] = dict(base, **cfg)
        return out

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.text_encoder.path)
        return self._tokenizer

    # ------------------------------------------------------------ encoders
    def image_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Images -> joint-space tokens ``(N, 1 + L, D)`` (after the shared decoder if used)."""
        tokens, _ = self.image_encoder.forward_tokens(images)
        tokens = self.image_proj(tokens)
        if self.use_shared_decoder:
            tokens = self.decoder.forward_image(tokens)
        return tokens

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised images ``(N, 3, H, W)`` -> global image features ``(N, D)``."""
        return _pool(self.image_tokens(images), self.image_pooling)

    def encode_text(self, captions: Union[Sequence[str], None] = None,
                    input_ids: Optional[torch.Tensor] = None,
                    attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Captions (strings, tokenised here to ``text_encoder.max_length``) or token ids ->
        global text features ``(N, D)``."""
        if input_ids is None:
            input_ids, attention_mask = tokenize(self.tokenizer, list(captions), self.max_length)
        device = self.text_proj.weight.device
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        if attention_mask.shape[1] > 1:  # drop the all-padding tail of the batch
            length = int(attention_mask.sum(dim=1).max().clamp(min=1))
            input_ids, attention_mask = input_ids[:, :length], attention_mask[:, :length]
        tokens = self.text_proj(self.text_encoder(input_ids, attention_mask))
        if self.use_shared_decoder:
            tokens = self.decoder.forward_text(tokens, attention_mask)
        return _pool(tokens, self.text_pooling, attention_mask)

    def _sample_tokens(self, data_samples: List[ReIDDataSample], training: bool
                       ) -> Tuple[torch.Tensor, torch.Tensor, List[int]]:
        """Token ids/masks of the samples' captions, and how many rows each sample has.
        Training: one caption per sample (the first tokenised row, or a random caption)."""
        ids, masks, counts = [], [], []
        for ds in data_samples:
            if 'text_token_ids' in ds:
                i, m = ds.text_token_ids, ds.text_attention_mask
                if i.dim() == 1:
                    i, m = i[None], m[None]
                if training:
                    i, m = i[:1], m[:1]
                ids.append(i.long())
                masks.append(m.long())
                counts.append(i.shape[0])
                continue
            caps = ds.metainfo.get('captions') or []
            if isinstance(caps, str):
                caps = [caps]
            if training:
                if not caps:
                    raise ValueError(f"MCMAModel: training sample {ds.metainfo.get('img_path')!r}"
                                     ' has no caption; MCMA trains on image-caption pairs.')
                caps = [caps[int(torch.randint(len(caps), ()).item())]]
            if caps:
                i, m = tokenize(self.tokenizer, caps, self.max_length)
                ids.append(i)
                masks.append(m)
            counts.append(len(caps))
        if not ids:
            return None, None, counts
        width = max(i.shape[1] for i in ids)
        ids = [F.pad(i, (0, width - i.shape[1])) for i in ids]
        masks = [F.pad(m, (0, width - m.shape[1])) for m in masks]
        device = self.text_proj.weight.device
        return torch.cat(ids).to(device), torch.cat(masks).to(device), counts

    def _warn_once(self, key: str, message: str) -> None:
        """Log ``message`` as a warning the first time ``key`` comes up in this model's life
        (a loss term that is structurally 0 for a batch: once per run, not once per batch)."""
        warned = self.__dict__.setdefault('_warned', set())
        if key not in warned:
            warned.add(key)
            print_log(message, logger='current', level=logging.WARNING)

    @staticmethod
    def check_train_batches(model_cfg: dict, train_dataloader: Optional[dict]) -> None:
        """Build-time check that the training sampler can feed the enabled losses: the
        cross-instance reconstruction needs K >= 2 images per identity, the bisimulation
        P >= 2 identities per batch (``P = batch_size / num_instances``). Raises ``ValueError``
        naming the config keys; the per-batch warnings of :meth:`loss` cover the rest."""
        losses = MCMAModel._merge_losses((model_cfg or {}).get('losses'))
        need_k = 2 if losses.get('cross_recon') is not None else 1
        need_p = 2 if losses.get('bisim') is not None else 1
        check_identity_batches('MCMAModel', train_dataloader, need_k, need_p,
                               'model.losses.cross_recon (cross-instance reconstruction)',
                               'model.losses.bisim (bisimulation)')

    # ------------------------------------------------------------ MMEngine API
    def test_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Images -> global image features (N, D) (:meth:`encode_image`)."""
        return self.encode_image(inputs)

    def loss(self, inputs: torch.Tensor, data_samples: List[ReIDDataSample]
             ) -> Dict[str, torch.Tensor]:
        """``{'loss_matching', 'loss_id', 'loss_self_recon', 'loss_cross_recon',
        'loss_bisim'}`` (the enabled ones), ``acc_id`` and ``cross_pairs`` (share of samples
        with a cross-instance partner)."""
        losses = self.losses
        labels = self.labels(data_samples, inputs.device)
        if self.classifier is not None:
            self.check_labels(labels, self.num_classes, 'model.num_classes')
        ids, mask, counts = self._sample_tokens(data_samples, training=True)
        img = self.encode_image(inputs)
        txt = self.encode_text(input_ids=ids, attention_mask=mask)
        out: Dict[str, torch.Tensor] = {}
        if 'matching' in losses:
            out['loss_matching'] = losses['matching'](img, txt, labels)
        if 'id' in losses:
            logits_v, logits_t = self.classifier(img), self.classifier(txt)
            out['loss_id'] = losses['id'](logits_v, logits_t, labels)
            self.add_accuracy(out, logits_v, labels)
        if self.do_self or self.do_cross:
            out.update(self._reconstruction_losses(inputs, txt, labels, data_samples))
        if 'bisim' in losses:
            if int(torch.unique(labels).numel()) < 2:
                self._warn_once(
                    'bisim', f'MCMAModel: a training batch of {labels.numel()} samples has '
                    f'{int(torch.unique(labels).numel())} identity; the bisimulation loss '
                    '(model.losses.bisim) needs >= 2 identities per batch and is 0 for it. '
                    'Use an IdentitySampler with batch_size / num_instances >= 2 '
                    '(train_dataloader.sampler).')
            out['loss_bisim'] = losses['bisim'](
                F.normalize(img, dim=1), F.normalize(txt, dim=1), labels,
                self.predictor.text_to_image, self.predictor.image_to_text)
        return out

    def _reconstruction_losses(self, images: torch.Tensor, text_global: torch.Tensor,
                               labels: torch.Tensor, data_samples: List[ReIDDataSample]
                               ) -> Dict[str, torch.Tensor]:
        vit = self.image_encoder
        n = images.shape[0]
        keep_idx, _, mask = random_patch_mask(n, vit.num_patches, self.mask_ratio,
                                              device=images.device)
        tokens, _ = vit_visible_tokens(vit, images, keep_idx)
        visible = self.image_proj(tokens[:, 1:])            # Z^v_um, (N, V, D)
        target = patchify(images, vit.patch_size, vit.stride)
        if self.norm_pix:
            target = normalized_pixel_targets(target)
        rows = []  # (image rows, prompt rows, loss name) of one decoder batch
        if self.do_self:
            rows.append((torch.arange(n, device=images.device),
                         torch.arange(n, device=images.device), 'self_recon'))
        out: Dict[str, torch.Tensor] = {}
        if self.do_cross:
            keys = [ds.metainfo.get('img_path', i) for i, ds in enumerate(data_samples)]
            partner = cross_instance_partners(labels, keys)
            has = partner >= 0
            out['cross_pairs'] = has.float().mean().detach()
            a = torch.nonzero(has).flatten()
            if a.numel() == 0:
                self._warn_once(
                    'cross_recon', f'MCMAModel: a training batch of {n} samples has no second '
                    'image of any identity; the cross-instance reconstruction loss '
                    '(model.losses.cross_recon) is 0 for it. Use an IdentitySampler with '
                    'num_instances >= 2 (train_dataloader.sampler.num_instances) on a training '
                    'set with >= 2 images per identity.')
            rows.append((partner[a], a, 'cross_recon'))     # image B = partner(A), text of A
        img_rows = torch.cat([r[0] for r in rows])
        txt_rows = torch.cat([r[1] for r in rows])
        pred = self.decoder.reconstruct(visible[img_rows], keep_idx[img_rows],
                                        text_global[txt_rows])
        start = 0
        for img_r, _, name in rows:
            sl = slice(start, start + img_r.numel())
            start += img_r.numel()
            out[f'loss_{name}'] = self.losses[name](pred[sl], target[img_r], mask[img_r])
        return out

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[List[ReIDDataSample]] = None) -> List[ReIDDataSample]:
        """Sets ``pred_feature`` (D,) on every sample and ``text_features`` (C, D) on samples
        with captions."""
        data_samples = set_pred_features(self.encode_image(inputs).detach(), data_samples,
                                         'MCMAModel')
        ids, mask, counts = self._sample_tokens(data_samples, training=False)
        txt = None
        if ids is not None:
            txt = self.encode_text(input_ids=ids, attention_mask=mask).detach()
        start = 0
        for sample, count in zip(data_samples, counts):
            if count:
                sample.set_field(txt[start:start + count], 'text_features')
                start += count
        return data_samples
