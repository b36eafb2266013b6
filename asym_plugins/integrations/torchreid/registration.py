"""Put this package into torchreid: models, datasets, losses, re-rankers, fixes.

:func:`register_all` walks :data:`METHODS`, a table keyed by what is importable: every entry
names the modules/attributes its method needs; an entry whose requirements do not import (a
method not written yet, or mid-edit) is skipped and reported, the others are registered. So
each method plugs in as soon as its files land, without touching this file's logic.

``register_all()`` is idempotent (torchreid itself raises when a name is registered twice):
a name that already maps to one of our objects is left alone (so a variant registered with
:func:`register_dataset`, e.g. a synthetic dataset with other sizes, survives a second call),
and a name that torchreid or another package owns raises :class:`RegistrationError`.

Examples::
    >>> from asym_plugins.integrations.torchreid import register_all
    >>> report = register_all()
    >>> report['models']                  # ['asym_resnet50', ..., 'mos_small', ...]
    >>> import torchreid
    >>> model = torchreid.reid.models.build_model('mos_small', num_classes=100,
    ...                                           pretrained=False)
"""
import importlib
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import compat

__all__ = ['MethodEntry', 'METHODS', 'register_all', 'method_available', 'available_methods',
           'available_model_factories', 'register_model', 'register_dataset', 'build_reranker',
           'RERANKER_NAMES', 'set_torchreid_reranker', 'RegistrationError']

_OUR_MODULE_PREFIX = 'asym_plugins.'


class RegistrationError(RuntimeError):
    """A name we register is already taken by something that is not ours."""


@dataclass(frozen=True)
class MethodEntry:
    """One row of the registration table.

    Attributes:
        name: method name (``'baseline'``, ``'mos'``...), also the ``asym.method`` yaml key.
        requires: ``'module'`` or ``'module:attribute'`` strings that must import.
        models: factory names (functions of :mod:`.models`) registered into torchreid.
        losses: name exported into torchreid's ``losses`` module -> ``'module:attribute'``.
        engine: engine class name in :mod:`.engines` used by ``tools/torchreid_train.py``.
        rerankers: re-ranker name -> ``'module:Class'`` (RERANKERS interface).
    """
    name: str
    requires: Tuple[str, ...]
    models: Tuple[str, ...] = ()
    losses: Dict[str, str] = field(default_factory=dict)
    engine: Optional[str] = None
    rerankers: Dict[str, str] = field(default_factory=dict)


METHODS: Tuple[MethodEntry, ...] = (
    MethodEntry(
        'baseline',
        requires=('asym_plugins.models:ReIDBaseline', 'asym_plugins.models:SmallReIDNet',
                  'asym_plugins.models:ResNetIBN'),
        models=('asym_resnet50', 'asym_resnet50_ibn_a', 'asym_small'),
        losses={'CrossEntropyLabelSmooth': 'asym_plugins.models.losses:CrossEntropyLabelSmooth',
                'AsymTripletLoss': 'asym_plugins.models.losses:TripletLoss',
                'WeightedRegularizedTriplet':
                    'asym_plugins.models.losses:WeightedRegularizedTriplet'},
        engine='AsymEngine'),
    MethodEntry(
        'mos',
        requires=('asym_plugins.methods.mos:MoSModel',
                  'asym_plugins.methods.mos:hard_jaccard_similarity',
                  'asym_plugins.methods.mos:rescore_topr',
                  'asym_plugins.methods.mos:JaccardTripletLoss'),
        models=('mos_resnet50', 'mos_resnet50_ibn_a', 'mos_small'),
        losses={'JaccardTripletLoss': 'asym_plugins.methods.mos:JaccardTripletLoss'},
        engine='MoSEngine'),
    MethodEntry(
        'sap',
        requires=('asym_plugins.methods.sap:SAPModel', 'asym_plugins.methods.sap:build_teacher',
                  'asym_plugins.models.backbones:ReIDViT'),
        models=('sap_vit_base', 'sap_vit_small', 'sap_vit_cpu'),
        losses={'PatchConsistencyDistillLoss':
                    'asym_plugins.methods.sap:PatchConsistencyDistillLoss',
                'ProxyConsistencyDistillLoss':
                    'asym_plugins.methods.sap:ProxyConsistencyDistillLoss'},
        engine='SAPEngine'),
    MethodEntry(
        'sim',
        requires=('asym_plugins.methods.sim:sim_re_ranking',
                  'asym_plugins.methods.sim:SIMReranker'),
        engine='AsymEngine',
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
        engine='MCMAEngine'),
    MethodEntry(
        # Cross-modality training (AGW engine + sampler) also trains the single-stream models.
        'agw',
        requires=('asym_plugins.models.backbones.agw:AGWModel',
                  'asym_plugins.models.backbones.agw:TwoStreamResNet',
                  'asym_plugins.models.backbones.agw:TwoStreamSmallReIDNet'),
        models=('agw_resnet50', 'agw_small'),
        engine='AGWEngine'),
)

#: re-ranker names accepted by :func:`build_reranker` (and the ``asym.rerank.type`` yaml key).
RERANKER_NAMES = ('k_reciprocal', 'sim')


# ---------------------------------------------------------------------------- availability
def _resolve(spec: str) -> Any:
    module, _, attr = spec.partition(':')
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


def method_available(entry: MethodEntry) -> Tuple[bool, str]:
    """``(True, '')`` when every requirement of ``entry`` imports, else ``(False, reason)``.

    Any exception while importing counts as "not available" (a colleague's module may be half
    written); the reason says which requirement failed and how.
    """
    for spec in entry.requires:
        try:
            _resolve(spec)
        except Exception as e:  # noqa: BLE001 - report, never break registration of the rest
            return False, f'{spec}: {type(e).__name__}: {e}'
    return True, ''


def available_methods() -> Dict[str, MethodEntry]:
    return {e.name: e for e in METHODS if method_available(e)[0]}


def available_model_factories() -> Dict[str, Callable]:
    """Factory name -> function, for the methods whose requirements import."""
    from . import models
    out = {}
    for entry in available_methods().values():
        for name in entry.models:
            out[name] = getattr(models, name)
    return out


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
    from . import models as model_module
    for entry in METHODS:
        ok, reason = method_available(entry)
        report['methods'][entry.name] = 'available' if ok else f'missing: {reason}'
        if not ok:
            continue
        if models:
            for name in entry.models:
                if register_model(name, getattr(model_module, name), replace_ours=False):
                    report['models'].append(name)
        if losses:
            _register_losses(entry, report)
    if datasets:
        from .datasets import DATASET_SPECS, dataset_class
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
        from . import checkpoint, evaluation
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
        import numpy as np
        import torch
        out = self.fn(dist_qg.cpu().numpy(), None if dist_qq is None else dist_qq.cpu().numpy(),
                      None if dist_gg is None else dist_gg.cpu().numpy())
        return torch.as_tensor(np.asarray(out), device=dist_qg.device)


def build_reranker(spec: Any) -> Optional[Callable]:
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
        from asym_plugins.evaluation.rerankers import build_reranker as build_registered
        try:
            return build_registered(dict(type=kind, **spec))
        except KeyError:
            raise KeyError(f'unknown re-ranker {kind!r}; available: {sorted(table)} or a '
                           f'RERANKERS type.') from None
    if hasattr(spec, 'needs_gg'):
        return spec
    if callable(spec):
        return _TorchreidSignature(spec)
    raise TypeError(f'build_reranker: cannot build a re-ranker from {spec!r}.')


def set_torchreid_reranker(spec: Any = 'k_reciprocal') -> Callable:
    """Choose what torchreid's own engines run for ``rerank=True`` (its test flow calls
    ``re_ranking(distmat, distmat_qq, distmat_gg)`` on numpy arrays): ``'k_reciprocal'``
    (our vectorised equivalent of torchreid's), ``'sim'`` or any ``re_ranking``-signature
    function. Returns the function installed."""
    from asym_plugins.methods import sim
    if spec in (True, 'k_reciprocal'):
        fn = sim.re_ranking
    elif spec == 'sim':
        fn = sim.sim_re_ranking
    elif callable(spec):
        fn = spec
    else:
        raise ValueError(f"set_torchreid_reranker: expected 'k_reciprocal', 'sim' or a "
                         f"function, got {spec!r}.")
    engine_module = compat.torchreid_module('engine.engine')
    engine_module.re_ranking = fn
    return fn
