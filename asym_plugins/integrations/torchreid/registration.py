"""The one table of the torchreid integration: :data:`METHODS`, one :class:`MethodEntry` per
method, holding everything torchreid needs of it: its model factories (:mod:`.models`), losses,
engine class (:mod:`.engines`), engine keyword arguments and ``asym.<method>`` yacs keys
(:mod:`.config` builds its defaults from the table), and re-rankers.

:func:`register_all` puts every available entry into torchreid. A method is unavailable only
when one of its ``requires`` raises ``ImportError`` (an optional dependency missing); any other
error raises.

``register_all()`` is idempotent (torchreid itself raises when a name is registered twice):
a name that already maps to one of our objects is left alone (so a variant registered with
:func:`register_dataset`, e.g. a synthetic dataset with other sizes, survives a second call),
and a name that torchreid or another package owns raises :class:`RegistrationError`.

Examples::
    >>> from asym_plugins.integrations.torchreid import register_all
    >>> report = register_all()
    >>> report['models']                  # ['bot_resnet50', ..., 'mos_small', ...]
    >>> import torchreid
    >>> model = torchreid.reid.models.build_model('mos_small', num_classes=100,
    ...                                           pretrained=False)
"""
import importlib
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from asym_plugins.evaluation.rerankers import build_reranker as build_registered_reranker

from . import checkpoint, compat, evaluation
from . import models as model_module
from .datasets import DATASET_SPECS, dataset_class

__all__ = ['MethodEntry', 'METHODS', 'METHOD_NAMES', 'FREE_KEYS', 'method_entry',
           'register_all', 'method_available', 'available_methods', 'available_model_factories',
           'build_torchreid_model', 'register_model', 'register_dataset',
           'build_torchreid_reranker', 'RERANKER_NAMES', 'set_torchreid_reranker',
           'RegistrationError']

_OUR_MODULE_PREFIX = 'asym_plugins.'

#: A value of :attr:`MethodEntry.config`: a yacs node that takes any key (free kwargs).
FREE_KEYS = 'FREE_KEYS'


class RegistrationError(RuntimeError):
    """A name we register is already taken by something that is not ours."""


def _plain(node: Any) -> Any:
    """yacs nodes (dicts) and lists -> plain dicts and lists."""
    if isinstance(node, Mapping):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _no_engine_kwargs(cfg) -> Dict[str, Any]:
    return {}


@dataclass(frozen=True)
class MethodEntry:
    """One method of the torchreid integration.

    Attributes:
        name: method name (``'baseline'``, ``'mos'``...), the ``asym.method`` yaml value.
        requires: ``'module'`` or ``'module:attribute'`` strings that must import (only
            ``ImportError`` makes the method unavailable).
        models: factory names (:data:`.models.FACTORIES`) registered into torchreid.
        losses: name exported into torchreid's ``losses`` module -> ``'module:attribute'``.
        engine: engine class name in :mod:`.engines` (None: the method has no engine).
        engine_kwargs: ``cfg -> dict`` of the engine's method-specific arguments, read from
            the yacs config (``asym.<name>`` keys and others).
        config: the ``asym.<name>`` yacs keys and their defaults (:data:`FREE_KEYS`: a node
            taking any key).
        rerankers: re-ranker name -> ``'module:Class'`` (RERANKERS interface).
    """
    name: str
    requires: Tuple[str, ...]
    models: Tuple[str, ...] = ()
    losses: Dict[str, str] = field(default_factory=dict)
    engine: Optional[str] = None
    engine_kwargs: Callable[[Any], Dict[str, Any]] = _no_engine_kwargs
    config: Dict[str, Any] = field(default_factory=dict)
    rerankers: Dict[str, str] = field(default_factory=dict)


def _mos_engine_kwargs(cfg) -> Dict[str, Any]:
    s = cfg.asym.mos
    return dict(cp_lambda=s.cp_lambda, cp_eps=s.cp_eps, cp_topk=s.cp_topk or None,
                top_r=s.top_r)


def _sap_engine_kwargs(cfg) -> Dict[str, Any]:
    s = cfg.asym.sap
    return dict(teacher=dict(type=s.teacher, **_plain(s.teacher_kwargs)))


def _mcma_engine_kwargs(cfg) -> Dict[str, Any]:
    return dict(text_batch_size=cfg.asym.mcma.text_batch_size)


def _agw_engine_kwargs(cfg) -> Dict[str, Any]:
    """K per identity and modality = ``sampler.num_instances`` (as for every sampler); the
    deprecated ``asym.agw.num_instances`` (K in total, K/2 per modality) still wins when set."""
    k = cfg.sampler.num_instances
    total = cfg.asym.agw.num_instances
    if total:
        warnings.warn('asym.agw.num_instances (K in total over both modalities) is deprecated; '
                      'set sampler.num_instances to K per identity and modality (here '
                      f'{total // 2}) and drop asym.agw.num_instances.', DeprecationWarning,
                      stacklevel=2)
        if total < 2 or total % 2:
            raise ValueError(f'asym.agw.num_instances={total} must be even (K/2 per modality); '
                             f'better set sampler.num_instances (K per modality) instead.')
        k = total // 2
    return dict(num_instances=k, workers=cfg.data.workers, gray_prob=cfg.asym.agw.gray_prob)


METHODS: Tuple[MethodEntry, ...] = (
    MethodEntry(
        'baseline',
        requires=('asym_plugins.models:ReIDBaseline', 'asym_plugins.models:SmallReIDNet',
                  'asym_plugins.models:ResNetIBN'),
        models=('bot_resnet50', 'bot_resnet50_ibn_a', 'bot_small'),
        losses={'CrossEntropyLabelSmooth': 'asym_plugins.models.losses:CrossEntropyLabelSmooth',
                'AsymTripletLoss': 'asym_plugins.models.losses:TripletLoss',
                'WeightedRegularizedTriplet':
                    'asym_plugins.models.losses:WeightedRegularizedTriplet'},
        engine='BoTEngine'),
    MethodEntry(
        'mos',
        requires=('asym_plugins.methods.mos:MoSModel',
                  'asym_plugins.methods.mos:hard_jaccard_similarity',
                  'asym_plugins.methods.mos:rescore_topr',
                  'asym_plugins.methods.mos:JaccardTripletLoss'),
        models=('mos_resnet50', 'mos_resnet50_ibn_a', 'mos_small'),
        losses={'JaccardTripletLoss': 'asym_plugins.methods.mos:JaccardTripletLoss'},
        engine='MoSEngine', engine_kwargs=_mos_engine_kwargs,
        config=dict(cp_lambda=0.1, cp_eps=1.0, cp_topk=32, top_r=50)),
    MethodEntry(
        'sap',
        requires=('asym_plugins.methods.sap:SAPModel', 'asym_plugins.methods.sap:build_teacher',
                  'asym_plugins.models.backbones:ReIDViT'),
        models=('sap_vit_base', 'sap_vit_small', 'sap_vit_cpu'),
        losses={'PatchConsistencyDistillLoss':
                    'asym_plugins.methods.sap:PatchConsistencyDistillLoss',
                'ProxyConsistencyDistillLoss':
                    'asym_plugins.methods.sap:ProxyConsistencyDistillLoss'},
        engine='SAPEngine', engine_kwargs=_sap_engine_kwargs,
        config=dict(teacher='SampleMaskTeacher', teacher_kwargs=FREE_KEYS)),
    MethodEntry(
        'sim',
        requires=('asym_plugins.methods.sim:sim_re_ranking',
                  'asym_plugins.methods.sim:SIMReranker'),
        engine='BoTEngine',
        rerankers={'sim': 'asym_plugins.methods.sim:SIMReranker'}),
    MethodEntry(
        'k_reciprocal',
        requires=('asym_plugins.methods.sim:k_reciprocal_rerank',
                  'asym_plugins.methods.sim:KReciprocalReranker'),
        rerankers={'k_reciprocal': 'asym_plugins.methods.sim:KReciprocalReranker'}),
    MethodEntry(
        'mcma',
        requires=('asym_plugins.methods.mcma:MCMAModel',
                  'asym_plugins.evaluation:evaluate_text_to_image'),
        models=('mcma_vit_base', 'mcma_vit_cpu'),
        engine='MCMAEngine', engine_kwargs=_mcma_engine_kwargs,
        config=dict(text_batch_size=128)),
    MethodEntry(
        # Cross-modality training (AGW engine + sampler) also trains the single-stream models.
        'agw',
        requires=('asym_plugins.models.agw_model:AGWModel',
                  'asym_plugins.models.backbones.agw:TwoStreamResNet',
                  'asym_plugins.models.backbones.agw:TwoStreamSmallReIDNet'),
        models=('agw_resnet50', 'agw_small'),
        engine='AGWEngine', engine_kwargs=_agw_engine_kwargs,
        # num_instances: deprecated (K in total); 0 = sampler.num_instances per modality.
        config=dict(num_instances=0, gray_prob=0.0)),
)

#: The ``asym.method`` values: the methods that have an engine.
METHOD_NAMES: Tuple[str, ...] = tuple(e.name for e in METHODS if e.engine is not None)

#: re-ranker names accepted by :func:`build_torchreid_reranker` (and ``asym.rerank.type``).
RERANKER_NAMES = tuple(sorted(name for e in METHODS for name in e.rerankers))


def method_entry(name: str) -> MethodEntry:
    """The :data:`METHODS` entry called ``name`` (``KeyError`` listing the names)."""
    for entry in METHODS:
        if entry.name == name:
            return entry
    raise KeyError(f'unknown method {name!r}; the methods are {[e.name for e in METHODS]}.')


# ---------------------------------------------------------------------------- availability
def _resolve(spec: str) -> Any:
    module, _, attr = spec.partition(':')
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


def method_available(entry: MethodEntry) -> Tuple[bool, str]:
    """``(True, '')`` when every requirement of ``entry`` imports, else ``(False, reason)``.

    Only ``ImportError`` (an optional dependency missing) means "not available"; any other
    error (a broken module, a missing attribute) raises.
    """
    for spec in entry.requires:
        try:
            _resolve(spec)
        except ImportError as e:
            return False, f'{spec}: {type(e).__name__}: {e}'
    return True, ''


def available_methods() -> Dict[str, MethodEntry]:
    return {e.name: e for e in METHODS if method_available(e)[0]}


def available_model_factories(deprecated: bool = True) -> Dict[str, Callable]:
    """Factory name -> function, for the methods whose requirements import (with the
    deprecated old names, :data:`.models.DEPRECATED_FACTORIES`, unless ``deprecated=False``)."""
    out = {}
    for entry in available_methods().values():
        for name in entry.models:
            out[name] = model_module.FACTORIES[name]
    if deprecated:
        for old, new in model_module.DEPRECATED_FACTORIES.items():
            if new in out:
                out[old] = getattr(model_module, old)
    return out


def build_torchreid_model(name: str, num_classes: int, loss: str = 'softmax',
                          pretrained: model_module.PretrainedArg = False, use_gpu: bool = True,
                          **kwargs) -> nn.Module:
    """Build a registered model with extra keyword arguments (torchreid's ``build_model``
    passes only the four standard ones). Our names take ``kwargs``; torchreid's own names
    must be given none."""
    ours = available_model_factories()
    if name in ours:
        return ours[name](num_classes=num_classes, loss=loss, pretrained=pretrained,
                          use_gpu=use_gpu, **kwargs)
    if kwargs:
        raise TypeError(f'build_torchreid_model: {name!r} is not an asym_plugins model, so it '
                        f'takes no extra arguments (got {sorted(kwargs)}); ours: '
                        f'{sorted(available_model_factories(deprecated=False))}.')
    return compat.torchreid_module('models').build_model(name, num_classes=num_classes,
                                                         loss=loss, pretrained=pretrained,
                                                         use_gpu=use_gpu)


# ---------------------------------------------------------------------------- registration
def _is_ours(obj: Any) -> bool:
    return str(getattr(obj, '__module__', '') or '').startswith(_OUR_MODULE_PREFIX)


def _put(table: Dict, name: str, obj: Any, what: str, replace_ours: bool = True) -> bool:
    """Insert ``obj`` under ``name``; False when nothing changed. An entry of ours is replaced
    only with ``replace_ours`` (explicit registrations), never one of another package."""
    current = table.get(name)
    if current is obj:
        return False
    if current is not None and not _is_ours(current):
        raise RegistrationError(
            f'torchreid already has a {what} named {name!r} ({current!r}) that is not from '
            f'asym_plugins; remove it or register ours under another name.')
    if current is not None and not replace_ours:
        return False
    table[name] = obj
    return True


def register_model(name: str, factory: Callable, replace_ours: bool = True) -> bool:
    """Add a model factory to torchreid's ``build_model`` table (idempotent)."""
    return _put(compat.model_factory(), name, factory, 'model', replace_ours)


def register_dataset(name: str, dataset_cls: type, replace_ours: bool = True) -> bool:
    """Add an image dataset class to torchreid's registry (idempotent; by default replaces an
    earlier class of ours under the same name, e.g. a synthetic dataset with other sizes)."""
    return _put(compat.image_dataset_registry(), name, dataset_cls, 'image dataset',
                replace_ours)


def _register_losses(entry: MethodEntry, report: Dict[str, List[str]]) -> None:
    module = compat.optional_module('losses')
    if module is None:
        return
    for name, spec in entry.losses.items():
        obj = _resolve(spec)
        current = getattr(module, name, None)
        if current is obj:
            continue
        if current is not None and not _is_ours(current):
            warnings.warn(f'torchreid.losses already has {name!r}; ours stays importable from '
                          f'{spec.replace(":", ".")}.')
            continue
        setattr(module, name, obj)
        report['losses'].append(name)


def register_all(models: bool = True, datasets: bool = True, losses: bool = True,
                 fix_torchreid: bool = True, verbose: bool = False) -> Dict[str, Any]:
    """Register every available method's models, our datasets and losses into torchreid.

    Args:
        models, datasets, losses: which kinds to register.
        fix_torchreid: install the torch >= 2.6 checkpoint loader (:mod:`.checkpoint`) and our
            evaluation core as ``metrics.evaluate_rank`` (:mod:`.evaluation`).
        verbose: print the report.

    Returns:
        ``dict(methods={name: 'available' | 'missing: reason'}, models=[names newly
        registered], datasets=[...], losses=[...], layout='reid'|'flat')``. Calling it again
        registers nothing new and raises nothing.
    """
    report: Dict[str, Any] = dict(layout=compat.layout(), methods={}, models=[], datasets=[],
                                  losses=[], missing_datasets={})
    old_names = {new: old for old, new in model_module.DEPRECATED_FACTORIES.items()}
    for entry in METHODS:
        ok, reason = method_available(entry)
        report['methods'][entry.name] = 'available' if ok else f'missing: {reason}'
        if not ok:
            continue
        if models:
            for name in entry.models:
                if register_model(name, model_module.FACTORIES[name], replace_ours=False):
                    report['models'].append(name)
                if name in old_names:  # deprecated name (one release), warns when built
                    register_model(old_names[name], getattr(model_module, old_names[name]),
                                   replace_ours=False)
        if losses:
            _register_losses(entry, report)
    if datasets:
        for name, spec in DATASET_SPECS.items():
            try:
                if 'parser' in spec:
                    _resolve(spec['parser'])
                cls = dataset_class(name)
            except ImportError as e:
                report['missing_datasets'][name] = f'{type(e).__name__}: {e}'
                continue
            # a variant registered by the user (e.g. other synthetic sizes) stays
            if register_dataset(name, cls, replace_ours=False):
                report['datasets'].append(name)
    if fix_torchreid:
        checkpoint.install()
        evaluation.install()
    if verbose:
        for name, state in report['methods'].items():
            print(f'asym_plugins -> torchreid: {name}: {state}')
        print(f'  new models: {report["models"]}\n  new datasets: {report["datasets"]}')
    return report


# ---------------------------------------------------------------------------- re-rankers
class _TorchreidSignature:
    """A ``re_ranking(q_g, q_q, g_g)`` function as a RERANKERS-interface object."""
    needs_gg = True
    needs_qq = True

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __call__(self, dist_qg, dist_gg=None, dist_qq=None):
        out = self.fn(dist_qg.cpu().numpy(), None if dist_qq is None else dist_qq.cpu().numpy(),
                      None if dist_gg is None else dist_gg.cpu().numpy())
        return torch.as_tensor(np.asarray(out), device=dist_qg.device)


def build_torchreid_reranker(spec: Any) -> Optional[Callable]:
    """A re-ranker (RERANKERS interface: ``r(dist_qg, dist_gg, dist_qq) -> dist_qg'``).

    ``None``/``False``/``''`` -> None; ``True`` or ``'k_reciprocal'`` -> k-reciprocal
    (Zhong et al., torchreid's ``rerank=True``); ``'sim'`` -> SIM; ``dict(type=name, **kw)``
    with one of those names (or a RERANKERS type); an object with ``needs_gg`` -> itself;
    another callable -> treated as torchreid's ``re_ranking(q_g, q_q, g_g)`` signature
    (e.g. ``asym_plugins.methods.sim.sim_re_ranking``).
    """
    if spec is None or spec is False or spec == '' or spec == 'none':
        return None
    if spec is True:
        spec = 'k_reciprocal'
    if isinstance(spec, str):
        spec = dict(type=spec)
    if isinstance(spec, dict):
        spec = dict(spec)
        kind = spec.pop('type')
        table = {}
        for entry in available_methods().values():
            table.update(entry.rerankers)
        if kind in table:
            return _resolve(table[kind])(**spec)
        try:
            return build_registered_reranker(dict(type=kind, **spec))
        except KeyError:
            raise KeyError(f'unknown re-ranker {kind!r}; available: {sorted(table)} or a '
                           f'RERANKERS type.') from None
    if hasattr(spec, 'needs_gg'):
        return spec
    if callable(spec):
        return _TorchreidSignature(spec)
    raise TypeError(f'build_torchreid_reranker: cannot build a re-ranker from {spec!r}.')


def set_torchreid_reranker(spec: Any = 'k_reciprocal') -> Callable:
    """Choose what torchreid's own engines run for ``rerank=True`` (its test flow calls
    ``re_ranking(distmat, distmat_qq, distmat_gg)`` on numpy arrays): ``'k_reciprocal'``
    (our vectorised equivalent of torchreid's), ``'sim'`` or any ``re_ranking``-signature
    function. Returns the function installed."""
    if spec in (True, 'k_reciprocal'):
        fn = _resolve('asym_plugins.methods.sim:re_ranking')
    elif spec == 'sim':
        fn = _resolve('asym_plugins.methods.sim:sim_re_ranking')
    elif callable(spec):
        fn = spec
    else:
        raise ValueError(f"set_torchreid_reranker: expected 'k_reciprocal', 'sim' or a "
                         f"function, got {spec!r}.")
    engine_module = compat.torchreid_module('engine.engine')
    engine_module.re_ranking = fn
    return fn


_DEPRECATED = {'build_reranker': 'build_torchreid_reranker'}


def __getattr__(name: str):
    # Deprecated names (one release).
    if name in _DEPRECATED:
        warnings.warn(f'{__name__}.{name} is deprecated; use {_DEPRECATED[name]} (the name says '
                      f'it is the torchreid flavour: it also takes True and re_ranking-signature '
                      f'functions).', DeprecationWarning, stacklevel=2)
        return globals()[_DEPRECATED[name]]
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
