"""torchreid-style models built from this package's MMEngine models.

torchreid expects ``model(x)`` to return the identity logits in training (``loss='softmax'``)
or ``(logits, features)`` (``loss='triplet'``), the test feature in ``eval()`` mode, and a
``loss`` attribute. The MMEngine models cannot be used directly (their ``loss`` is a method),
so :class:`TorchreidModel` wraps one: it *adopts* the wrapped model's submodules (``backbone``,
``neck``, ``head``, MoS's ``prior``...), so its ``state_dict`` keys are exactly those of the
MMEngine model. A torchreid checkpoint therefore loads into the equivalent MMEngine model (and
``tools/test.py``) unchanged, and back; :func:`to_mmengine_state_dict` only strips a
DataParallel ``module.`` prefix. The method's own ``loss`` (BoT, MoS, SAP, MCMA) stays reachable
as ``model.asym_model.loss(...)``; the engines in :mod:`.engines` train through it.

Factories (``name(num_classes, loss='softmax', pretrained=True, use_gpu=True, **kwargs)``),
table :data:`FACTORIES`:

=========================  ==================================================================
``bot_resnet50``           BoT baseline, ResNet-50 (last stride 1), avg pooling, BNNeck
``bot_resnet50_ibn_a``     the same on ResNet-50-IBN-a
``bot_small``              the same on SmallReIDNet (CPU demos, tests)
``mos_resnet50``           MoS: max-pooled pattern vector g, ID + Jaccard triplet, CP prior
``mos_resnet50_ibn_a``     MoS_wIBN
``mos_small``              MoS on SmallReIDNet
``sap_vit_base``           SAP: ViT-B/16 student (overlapping patches 16/12), part proxies
``sap_vit_small``          SAP on ViT-S/16
``sap_vit_cpu``            SAP on the 4-layer CPU ViT
``mcma_vit_base``          MCMA: ViT-B/16 image encoder + local BERT-family text encoder
``mcma_vit_cpu``           MCMA on the CPU ViT + the packaged MiniLM (2 layers)
``agw_resnet50``           AGW: two-stream ResNet-50 (one stem per modality, non-local 0/2/3/0),
                           GeM, BNNeck, ID + weighted regularised triplet
``agw_small``              AGW on the two-stream SmallReIDNet (CPU twin, non-local 0/1/1)
=========================  ==================================================================

The old baseline names ``asym_resnet50``, ``asym_resnet50_ibn_a`` and ``asym_small`` still work
for one release (:data:`DEPRECATED_FACTORIES`; a ``DeprecationWarning`` when called).

The AGW models route each sample through the stem of its modality: ``model(x, modality=m)``
with ``m`` a LongTensor of 0 (visible) / 1 (infrared) per sample (what the items of our
torchreid datasets carry as ``'modality'``), a BoolTensor or a list of names;
:class:`~.engines.AGWEngine` passes it in training and at test time. ``model(x)`` alone uses
``default_modality`` (factory argument, default None: an error naming the fix).

``pretrained``: nothing is ever downloaded. ``False`` trains from scratch; a path loads that
local ImageNet checkpoint into the backbone; ``True`` looks for the usual file names of the
backbone's weights in ``$ASYM_PRETRAINED_DIR``, ``$TORCH_HOME/hub/checkpoints`` and
``~/.cache/torch/{hub/,}checkpoints`` and raises ``FileNotFoundError`` (saying what to do) when
none is there. ``use_gpu`` is accepted for torchreid's signature and ignored: move the model
yourself (``model.cuda()``), as torchreid's scripts do.

Examples::
    >>> from asym_plugins.integrations.torchreid import register_all
    >>> register_all()
    >>> import torchreid
    >>> model = torchreid.reid.models.build_model('bot_small', num_classes=751, loss='triplet',
    ...                                           pretrained=False)
    >>> logits, feats = model(torch.rand(8, 3, 128, 64))          # train mode
    >>> model.eval()(torch.rand(2, 3, 128, 64)).shape              # test features
    torch.Size([2, 256])
"""
import copy
import functools
import os
import os.path as osp
import warnings
from collections import OrderedDict
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from asym_plugins.methods.mcma.model import MCMAModel
from asym_plugins.methods.sap.model import SAPModel
from asym_plugins.models.agw_model import AGW_LOSSES, AGWModel
from asym_plugins.models.backbones.base import check_local_checkpoint
from asym_plugins.models.reid_baseline import DEFAULT_LOSSES, ReIDBaseline
from asym_plugins.registry import MODELS

from .checkpoint import to_mmengine_state_dict

__all__ = ['TorchreidModel', 'BaselineTorchreidModel', 'SAPTorchreidModel',
           'MCMATorchreidModel', 'AGWTorchreidModel', 'BACKBONES', 'resolve_pretrained',
           'wrap_model', 'to_mmengine_state_dict', 'from_mmengine_state_dict',
           'mmengine_model_config', 'FACTORIES', 'DEPRECATED_FACTORIES', 'bot_resnet50',
           'bot_resnet50_ibn_a', 'bot_small', 'mos_resnet50', 'mos_resnet50_ibn_a', 'mos_small',
           'sap_vit_base', 'sap_vit_small', 'sap_vit_cpu', 'mcma_vit_base', 'mcma_vit_cpu',
           'agw_resnet50', 'agw_small']

LOSS_MODES = ('softmax', 'triplet')
PretrainedArg = Union[bool, str, None]

#: Backbones of the factories: MMEngine config and the file names its ImageNet weights usually
#: have (searched by ``pretrained=True``; empty: no published weights).
BACKBONES: Dict[str, dict] = {
    'resnet50': dict(cfg=dict(type='ReIDResNet', depth=50, last_stride=1),
                     weights=('resnet50-0676ba61.pth', 'resnet50-11ad3fa6.pth',
                              'resnet50-19c8e357.pth', 'resnet50.pth')),
    'resnet50_ibn_a': dict(cfg=dict(type='ResNetIBN', depth=50, last_stride=1),
                           weights=('resnet50_ibn_a-d9d0bb7b.pth', 'resnet50_ibn_a.pth',
                                    'r50_ibn_a.pth')),
    'small': dict(cfg=dict(type='SmallReIDNet', out_channels=256, stride=16), weights=()),
    'vit_base': dict(cfg=dict(type='ReIDViT', arch='base', patch_size=16, stride=12,
                              drop_path_rate=0.1),
                     weights=('jx_vit_base_p16_224-80ecf9dd.pth', 'vit_base_patch16_224.pth',
                              'vit_b_16-c867db91.pth')),
    'vit_small': dict(cfg=dict(type='ReIDViT', arch='small', patch_size=16, stride=12,
                               drop_path_rate=0.1),
                      weights=('deit_small_distilled_patch16_224-649709d9.pth',
                               'vit_small_patch16_224.pth')),
    'vit_cpu': dict(cfg=dict(type='ReIDViT', arch='cpu', patch_size=16, stride=12,
                             drop_path_rate=0.1), weights=()),
    # AGW: a single-stream torchvision checkpoint has its stem copied into both stems.
    'two_stream_resnet50': dict(cfg=dict(type='TwoStreamResNet', depth=50, last_stride=1,
                                         non_local=(0, 2, 3, 0),
                                         modalities=('visible', 'infrared')),
                                weights=('resnet50-0676ba61.pth', 'resnet50-11ad3fa6.pth',
                                         'resnet50-19c8e357.pth', 'resnet50.pth')),
    'two_stream_small': dict(cfg=dict(type='TwoStreamSmallReIDNet', out_channels=256,
                                      stride=16, non_local=(0, 1, 1),
                                      modalities=('visible', 'infrared')), weights=()),
}


def _weight_dirs():
    dirs = []
    if os.environ.get('ASYM_PRETRAINED_DIR'):
        dirs.append(os.environ['ASYM_PRETRAINED_DIR'])
    torch_home = os.environ.get('TORCH_HOME', osp.join(osp.expanduser('~'), '.cache', 'torch'))
    dirs += [osp.join(torch_home, 'hub', 'checkpoints'), osp.join(torch_home, 'checkpoints')]
    return dirs


def resolve_pretrained(pretrained: PretrainedArg, backbone: str, factory: str) -> Optional[str]:
    """Local checkpoint path for ``pretrained`` (None: random init). Never downloads.

    Raises:
        FileNotFoundError: a path that is not a file, or ``True`` without a local copy.
        ValueError: ``True`` for a backbone that has no published ImageNet weights.
    """
    if pretrained is None or pretrained is False:
        return None
    if isinstance(pretrained, (str, os.PathLike)):
        return check_local_checkpoint(str(pretrained), f'{factory}(pretrained=...)')
    if pretrained is not True:
        raise TypeError(f'{factory}: pretrained must be True, False or a local checkpoint path, '
                        f'got {pretrained!r}.')
    names = BACKBONES[backbone]['weights']
    if not names:
        raise ValueError(f'{factory}: the {backbone} backbone has no published ImageNet weights; '
                         f'pass pretrained=False (torchreid.models.build_model(..., '
                         f'pretrained=False)) or the path of your own checkpoint.')
    dirs = _weight_dirs()
    for folder in dirs:
        for name in names:
            path = osp.join(folder, name)
            if osp.isfile(path):
                return path
    raise FileNotFoundError(
        f'{factory}: pretrained=True but no local {backbone} ImageNet checkpoint was found '
        f'(looked for {list(names)} in {dirs}); nothing is downloaded. Put the file in one of '
        f'those folders (or set ASYM_PRETRAINED_DIR), pass pretrained="/path/to/weights.pth", '
        f'or pretrained=False to train from scratch.')


def _backbone_cfg(backbone: str, pretrained: PretrainedArg, factory: str, **overrides) -> dict:
    cfg = copy.deepcopy(BACKBONES[backbone]['cfg'])
    cfg.update(overrides)
    path = resolve_pretrained(pretrained, backbone, factory)
    if path is not None:
        cfg['init_cfg'] = dict(type='Pretrained', checkpoint=path)
    return cfg


def _check_loss(loss: str, factory: str) -> None:
    if loss not in LOSS_MODES:
        raise ValueError(f'{factory}: loss must be one of {LOSS_MODES} (what model(x) returns in '
                         f'training), got {loss!r}.')


# ---------------------------------------------------------------------------- wrappers
class TorchreidModel(nn.Module):
    """A torchreid-style view of one of our MMEngine models (see the module docstring).

    Args:
        asym_model: the MMEngine model (``ReIDBaseline``, ``MoSModel``, ``SAPModel``,
            ``MCMAModel``...); its submodules become this module's submodules (same
            ``state_dict`` keys), it stays reachable as ``self.asym_model``.
        num_classes: training identities.
        loss: ``'softmax'`` (train output: logits) or ``'triplet'`` (``(logits, features)``).
        method: name of the method (``'baseline'``, ``'mos'``...), used by the engines.

    Subclasses implement :meth:`train_outputs` and :meth:`test_features`.
    """

    method = 'baseline'

    def __init__(self, asym_model: nn.Module, num_classes: Optional[int], loss: str = 'softmax',
                 method: Optional[str] = None) -> None:
        super().__init__()
        _check_loss(loss, type(self).__name__)
        # Kept out of _modules: the same submodules are registered once, under their own names.
        self.__dict__['asym_model'] = asym_model
        for name, child in asym_model.named_children():
            if name != 'data_preprocessor':  # no persistent state; torchreid normalises
                self.add_module(name, child)
        self.loss = loss
        self.num_classes = num_classes
        if method is not None:
            self.method = method
        self.feature_dim = None

    def train(self, mode: bool = True):
        super().train(mode)
        self.asym_model.training = mode
        return self

    def train_outputs(self, x: torch.Tensor) -> Tuple[Optional[torch.Tensor], torch.Tensor]:
        """Normalised images -> ``(logits, metric feature)`` in training."""
        raise NotImplementedError

    def test_features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images -> test features (N, D)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, **kwargs):
        """``kwargs`` (e.g. AGW's ``modality``) go to :meth:`train_outputs` /
        :meth:`test_features`."""
        if not self.training:
            return self.test_features(x, **kwargs)
        logits, feature = self.train_outputs(x, **kwargs)
        if logits is None:
            raise ValueError(f'{type(self).__name__}: the model has no classifier (num_classes '
                             f'is None) but torchreid expects logits in training.')
        if self.loss == 'softmax':
            return logits
        return logits, feature

    def mmengine_state_dict(self) -> 'OrderedDict[str, torch.Tensor]':
        """The state dict of the equivalent MMEngine model (the same keys)."""
        return self.state_dict()


class BaselineTorchreidModel(TorchreidModel):
    """:class:`ReIDBaseline` family (BoT baseline, MoS): triplet feature ``f_t`` (MoS: the
    pattern vector g), test feature as the model's ``test_feature``."""

    def __init__(self, asym_model, num_classes, loss='softmax', method=None):
        super().__init__(asym_model, num_classes, loss, method)
        self.feature_dim = asym_model.head.in_channels

    def train_outputs(self, x):
        f_t, _, logits = self.asym_model.extract_feat(x)
        return logits, f_t

    def test_features(self, x):
        return self.asym_model(x, mode='tensor')


class SAPTorchreidModel(TorchreidModel):
    """:class:`SAPModel`: triplet feature = global (CLS) token, test feature = global + parts."""

    method = 'sap'

    def __init__(self, asym_model, num_classes, loss='softmax', method=None):
        super().__init__(asym_model, num_classes, loss, method)
        self.feature_dim = asym_model.feature_dims

    def train_outputs(self, x):
        glob = self.asym_model.backbone.forward_tokens(x)[0][:, 0]
        _, logits = self.asym_model.head(glob)
        return logits, glob

    def test_features(self, x):
        return self.asym_model.test_features(x)


class MCMATorchreidModel(TorchreidModel):
    """:class:`MCMAModel`: image side only (torchreid's engines are image-only; text -> image
    training and testing run in :class:`~.engines.MCMAEngine`)."""

    method = 'mcma'

    def __init__(self, asym_model, num_classes, loss='softmax', method=None):
        super().__init__(asym_model, num_classes, loss, method)
        self.feature_dim = asym_model.embed_dims

    def train_outputs(self, x):
        img = self.asym_model.encode_image(x)
        classifier = self.asym_model.classifier
        return (classifier(img) if classifier is not None else None), img

    def test_features(self, x):
        return self.asym_model.encode_image(x)


class AGWTorchreidModel(BaselineTorchreidModel):
    """:class:`AGWModel`: ``forward(x, modality=None)``, each sample through the stem of its
    modality (module docstring); triplet feature ``f_t`` (GeM-pooled), test feature after the
    BNNeck. Without ``modality`` the model's ``default_modality`` is used (None: an error)."""

    method = 'agw'

    def train_outputs(self, x, modality=None):
        f_t, _, logits = self.asym_model.extract_feat(x, modality=modality)
        return logits, f_t

    def test_features(self, x, modality=None):
        return self.asym_model(x, mode='tensor', modality=modality)


#: MMEngine model class -> its torchreid view; the most specific class that matches wins.
VIEWS: Tuple[Tuple[type, type], ...] = (
    (AGWModel, AGWTorchreidModel),
    (ReIDBaseline, BaselineTorchreidModel),   # BoT, MoS
    (SAPModel, SAPTorchreidModel),
    (MCMAModel, MCMATorchreidModel),
)


def wrap_model(asym_model: nn.Module, num_classes: Optional[int], loss: str = 'softmax',
               method: Optional[str] = None) -> TorchreidModel:
    """The torchreid view of an MMEngine model of this package, chosen by its class
    (:data:`VIEWS`)."""
    for model_cls, view in VIEWS:
        if isinstance(asym_model, model_cls):
            return view(asym_model, num_classes, loss, method)
    raise TypeError(f'wrap_model: no torchreid view for {type(asym_model).__name__}; '
                    f'supported: {[c.__name__ for c, _ in VIEWS]} and their subclasses.')


# ---------------------------------------------------------------------------- state dicts
def from_mmengine_state_dict(state_dict: Mapping[str, torch.Tensor]
                             ) -> 'OrderedDict[str, torch.Tensor]':
    """MMEngine model state dict -> torchreid model's (drops ``data_preprocessor.*``)."""
    return OrderedDict((k, v) for k, v in to_mmengine_state_dict(state_dict).items()
                       if not k.startswith('data_preprocessor.'))


# ---------------------------------------------------------------------------- builders
def _init_backbone(asym_model: nn.Module, attr: str = 'backbone') -> None:
    """Load a ``Pretrained`` init_cfg of the backbone now (MMEngine does it in the Runner)."""
    backbone = getattr(asym_model, attr)
    if getattr(backbone, 'init_cfg', None):
        backbone.init_weights()


def _baseline_cfg(backbone_cfg: dict, num_classes: Optional[int], pooling: str,
                  test_feature: str, losses: Optional[dict]) -> dict:
    return dict(type='ReIDBaseline', backbone=backbone_cfg,
                neck=dict(type='GlobalPooling', pooling=pooling),
                head=dict(type='BNNeckHead', num_classes=num_classes),
                losses=copy.deepcopy(DEFAULT_LOSSES if losses is None else losses),
                test_feature=test_feature)


def _mos_cfg(backbone_cfg: dict, num_classes: Optional[int], pooling: str, margin: float,
             tau: float, prior_decay: float, train_cp_weight: float, losses: Optional[dict]
             ) -> dict:
    if losses is None:
        losses = dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                      jaccard=dict(type='JaccardTripletLoss', margin=margin, tau=tau,
                                   input='feature'))
    return dict(type='MoSModel', backbone=backbone_cfg,
                neck=dict(type='GlobalPooling', pooling=pooling),
                head=dict(type='BNNeckHead', num_classes=num_classes),
                losses=copy.deepcopy(losses), prior=dict(decay=prior_decay),
                train_cp=dict(weight=train_cp_weight))


def _agw_cfg(backbone_cfg: dict, num_classes: Optional[int], test_feature: str,
             losses: Optional[dict], default_modality: Optional[str]) -> dict:
    return dict(type='AGWModel', backbone=backbone_cfg,
                neck=dict(type='GlobalPooling', pooling='gem', p=3.0, learn_p=False),
                head=dict(type='BNNeckHead', num_classes=num_classes),
                losses=copy.deepcopy(AGW_LOSSES if losses is None else losses),
                test_feature=test_feature, default_modality=default_modality)


def _build(cfg: dict) -> nn.Module:
    return MODELS.build(copy.deepcopy(cfg))


def _make(cfg: dict, wrapper: type, num_classes: Optional[int], loss: str, method: str,
          encoder: str = 'backbone') -> TorchreidModel:
    """Build the MMEngine model of ``cfg``, load its pretrained encoder, wrap it."""
    net = _build(cfg)
    _init_backbone(net, encoder)
    model = wrapper(net, num_classes, loss, method=method)
    model.mmengine_cfg = cfg
    return model


def _baseline_factory(backbone: str, name: str) -> Callable:
    def factory(num_classes: int, loss: str = 'softmax', pretrained: PretrainedArg = True,
                use_gpu: bool = True, pooling: str = 'avg', test_feature: str = 'after_bn',
                losses: Optional[dict] = None, **backbone_kwargs) -> TorchreidModel:
        _check_loss(loss, name)
        cfg = _baseline_cfg(_backbone_cfg(backbone, pretrained, name, **backbone_kwargs),
                            num_classes, pooling, test_feature, losses)
        return _make(cfg, BaselineTorchreidModel, num_classes, loss, 'baseline')

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f'BoT baseline on the {backbone} backbone (ReIDBaseline): ID + triplet, '
                       f'BNNeck, test feature after BN. Extra kwargs: pooling, test_feature, '
                       f'losses (ReIDBaseline config), backbone arguments.')
    return factory


def _mos_factory(backbone: str, name: str) -> Callable:
    def factory(num_classes: int, loss: str = 'softmax', pretrained: PretrainedArg = True,
                use_gpu: bool = True, pooling: str = 'max', margin: float = 0.3,
                tau: float = 10.0, prior_decay: float = 1.0, train_cp_weight: float = 0.0,
                losses: Optional[dict] = None, **backbone_kwargs) -> TorchreidModel:
        _check_loss(loss, name)
        cfg = _mos_cfg(_backbone_cfg(backbone, pretrained, name, **backbone_kwargs),
                       num_classes, pooling, margin, tau, prior_decay, train_cp_weight, losses)
        return _make(cfg, BaselineTorchreidModel, num_classes, loss, 'mos')

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f'MoS on the {backbone} backbone (MoSModel): pattern vector g (max '
                       f'pooling), ID + Jaccard triplet, positive co-occurrence prior for CP. '
                       f'Train with MoSEngine (the stock engines neither use the Jaccard loss '
                       f'nor update the prior).')
    return factory


def _sap_factory(backbone: str, name: str) -> Callable:
    def factory(num_classes: int, loss: str = 'softmax', pretrained: PretrainedArg = True,
                use_gpu: bool = True, img_size: Sequence[int] = (256, 128),
                patch_size: int = 16, stride: int = 12, **sap_kwargs) -> TorchreidModel:
        _check_loss(loss, name)
        bb = _backbone_cfg(backbone, pretrained, name, img_size=tuple(img_size),
                           patch_size=patch_size, stride=stride)
        cfg = dict(type='SAPModel', backbone=bb, num_classes=num_classes, **sap_kwargs)
        return _make(cfg, SAPTorchreidModel, num_classes, loss, 'sap')

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f'SAP with a {backbone} student (SAPModel). Extra kwargs: img_size '
                       f'(H, W) (set it to the data size), patch_size, stride and any SAPModel '
                       f'argument (num_parts, patch_loss, proxy, ssd...). Train with SAPEngine.')
    return factory


def _mcma_factory(backbone: str, name: str, text_defaults: dict, embed_dims: int) -> Callable:
    def factory(num_classes: int, loss: str = 'softmax', pretrained: PretrainedArg = True,
                use_gpu: bool = True, img_size: Sequence[int] = (256, 128),
                patch_size: int = 16, stride: int = 16, text_encoder: Optional[dict] = None,
                **mcma_kwargs) -> TorchreidModel:
        _check_loss(loss, name)
        image_encoder = _backbone_cfg(backbone, pretrained, name, img_size=tuple(img_size),
                                      patch_size=patch_size, stride=stride)
        text = dict(text_defaults, **(text_encoder or {}))
        mcma_kwargs.setdefault('embed_dims', embed_dims)
        cfg = dict(type='MCMAModel', image_encoder=image_encoder, text_encoder=text,
                   num_classes=num_classes, **mcma_kwargs)
        return _make(cfg, MCMATorchreidModel, num_classes, loss, 'mcma', 'image_encoder')

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f'MCMA with a {backbone} image encoder (MCMAModel). Extra kwargs: '
                       f'img_size, patch_size, stride, text_encoder (HFTextEncoder arguments, '
                       f'e.g. pretrained=LOCAL_FOLDER), any MCMAModel argument. Train and test '
                       f'with MCMAEngine (text -> image).')
    return factory


def _agw_factory(backbone: str, name: str) -> Callable:
    def factory(num_classes: int, loss: str = 'softmax', pretrained: PretrainedArg = True,
                use_gpu: bool = True, test_feature: str = 'after_bn',
                losses: Optional[dict] = None, default_modality: Optional[str] = None,
                **backbone_kwargs) -> TorchreidModel:
        _check_loss(loss, name)
        cfg = _agw_cfg(_backbone_cfg(backbone, pretrained, name, **backbone_kwargs),
                       num_classes, test_feature, losses, default_modality)
        return _make(cfg, AGWTorchreidModel, num_classes, loss, 'agw')

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f'AGW on the {backbone} backbone (AGWModel): a stem per modality, '
                       f'shared stages with non-local blocks, GeM (p = 3), BNNeck, ID + '
                       f'weighted regularised triplet; forward(x, modality=...). Extra kwargs: '
                       f'test_feature, losses, default_modality, backbone arguments '
                       f'(non_local, modalities...). Train with AGWEngine.')
    return factory


bot_resnet50 = _baseline_factory('resnet50', 'bot_resnet50')
bot_resnet50_ibn_a = _baseline_factory('resnet50_ibn_a', 'bot_resnet50_ibn_a')
bot_small = _baseline_factory('small', 'bot_small')
mos_resnet50 = _mos_factory('resnet50', 'mos_resnet50')
mos_resnet50_ibn_a = _mos_factory('resnet50_ibn_a', 'mos_resnet50_ibn_a')
mos_small = _mos_factory('small', 'mos_small')
sap_vit_base = _sap_factory('vit_base', 'sap_vit_base')
sap_vit_small = _sap_factory('vit_small', 'sap_vit_small')
sap_vit_cpu = _sap_factory('vit_cpu', 'sap_vit_cpu')
mcma_vit_base = _mcma_factory('vit_base', 'mcma_vit_base',
                              dict(pretrained=None, max_length=77), embed_dims=512)
mcma_vit_cpu = _mcma_factory('vit_cpu', 'mcma_vit_cpu',
                             dict(pretrained='minilm', num_layers=2, max_length=48,
                                  freeze_embeddings=True), embed_dims=128)
agw_resnet50 = _agw_factory('two_stream_resnet50', 'agw_resnet50')
agw_small = _agw_factory('two_stream_small', 'agw_small')

#: Factory name -> factory (what ``MethodEntry.models`` of :mod:`.registration` names).
FACTORIES: Dict[str, Callable] = {
    f.__name__: f for f in (bot_resnet50, bot_resnet50_ibn_a, bot_small, mos_resnet50,
                            mos_resnet50_ibn_a, mos_small, sap_vit_base, sap_vit_small,
                            sap_vit_cpu, mcma_vit_base, mcma_vit_cpu, agw_resnet50, agw_small)}

#: Old factory name -> new one; the old names work for one release (``DeprecationWarning``).
DEPRECATED_FACTORIES = {'asym_resnet50': 'bot_resnet50',
                        'asym_resnet50_ibn_a': 'bot_resnet50_ibn_a',
                        'asym_small': 'bot_small'}


def _deprecated_factory(old: str, new: str) -> Callable:
    factory = FACTORIES[new]

    @functools.wraps(factory)
    def deprecated(*args, **kwargs):
        warnings.warn(f'torchreid model {old!r} is deprecated (the BoT baseline); use {new!r}.',
                      DeprecationWarning, stacklevel=2)
        return factory(*args, **kwargs)

    deprecated.__name__ = deprecated.__qualname__ = old
    return deprecated


asym_resnet50 = _deprecated_factory('asym_resnet50', 'bot_resnet50')
asym_resnet50_ibn_a = _deprecated_factory('asym_resnet50_ibn_a', 'bot_resnet50_ibn_a')
asym_small = _deprecated_factory('asym_small', 'bot_small')


def mmengine_model_config(model: TorchreidModel) -> dict:
    """The MMEngine ``model = dict(...)`` config equivalent to a factory-built model (same
    architecture and state-dict keys), e.g. to evaluate a torchreid checkpoint with
    ``tools/test.py``."""
    cfg = getattr(model, 'mmengine_cfg', None)
    if cfg is None:
        raise ValueError('mmengine_model_config: the model was not built by one of the '
                         'asym_plugins torchreid factories.')
    cfg = copy.deepcopy(cfg)
    # Pretrained weights are in the checkpoint being evaluated.
    for key in ('backbone', 'image_encoder'):
        if isinstance(cfg.get(key), dict):
            cfg[key].pop('init_cfg', None)
    return cfg


def __getattr__(name: str):
    # Deprecated (one release): build_model is registration.build_torchreid_model.
    if name == 'build_model':
        import importlib
        warnings.warn(f'{__name__}.build_model is deprecated; use '
                      'asym_plugins.integrations.torchreid.registration.build_torchreid_model.',
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(__package__ + '.registration').build_torchreid_model
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
