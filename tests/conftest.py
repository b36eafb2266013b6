import contextlib
import importlib
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

# Packages of our ``[all]`` extra are required: a missing one is an error, not a silent skip.
# Only a developer who knowingly runs without them sets ASYM_TEST_ALLOW_MISSING=1 (CI never does).
ALLOW_MISSING_ENV = 'ASYM_TEST_ALLOW_MISSING'


def require(module: str):
    """Import ``module`` (a package of the ``[all]`` extra) for a test.

    Missing: an ImportError naming the fix, unless ``ASYM_TEST_ALLOW_MISSING=1`` is set, in
    which case the calling test (or module, at import time) is skipped.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if os.environ.get(ALLOW_MISSING_ENV) == '1':
            pytest.skip(f'{module} missing and {ALLOW_MISSING_ENV}=1: {e}',
                        allow_module_level=True)
        raise ImportError(
            f'test dependency {module!r} is missing ({e}); install the test stack with '
            f'`pip install -e ".[all]"`, or set {ALLOW_MISSING_ENV}=1 to skip such tests '
            f'locally') from e


@pytest.fixture(autouse=True)
def _seed():
    import numpy as np
    import torch
    np.random.seed(0)
    torch.manual_seed(0)
    yield


def _all_registries():
    """Every MMEngine registry reachable from the root registries (children included)."""
    from mmengine.registry import Registry, root
    todo = [r for r in vars(root).values() if isinstance(r, Registry)]
    seen = {}
    while todo:
        reg = todo.pop()
        if id(reg) in seen:
            continue
        seen[id(reg)] = reg
        todo.extend(reg._children.values())
    return list(seen.values())


def _outlived(obj) -> bool:
    """A registration made during a test that must not leak into the next one: its module was
    removed from ``sys.modules`` (a test's temporary package), it lives in a test module, or it
    is a class defined inside a function."""
    mod = getattr(obj, '__module__', None) or ''
    base = mod.rsplit('.', 1)[-1]
    return (mod not in sys.modules or base.startswith('test_') or base == 'conftest'
            or '<locals>' in getattr(obj, '__qualname__', ''))


@contextlib.contextmanager
def mmengine_globals_restored():
    """MMEngine's default scope (``DefaultScope`` instances, the latest of which is "current")
    and the registrations made inside the block are put back afterwards.

    Registrations of library modules imported lazily inside the block are kept (the module stays
    imported and would not register again); a name overridden with ``force=True`` by a test gets
    its old entry back; child registries whose package was unloaded are dropped (so that it can
    be imported again).
    """
    from mmengine.registry import DefaultScope
    scopes = dict(DefaultScope._instance_dict)
    regs = _all_registries()
    before = {id(r): (dict(r._module_dict), dict(r._children)) for r in regs}
    try:
        yield
    finally:
        DefaultScope._instance_dict.clear()
        DefaultScope._instance_dict.update(scopes)
        for reg in regs:
            modules, children = before[id(reg)]
            for name in list(reg._module_dict):
                obj = reg._module_dict[name]
                if name in modules:
                    if obj is not modules[name] and _outlived(obj):
                        reg._module_dict[name] = modules[name]
                elif _outlived(obj):
                    del reg._module_dict[name]
            for scope in list(reg._children):
                if scope in children:
                    continue
                objs = list(reg._children[scope]._module_dict.values())
                # a library's registry (its classes' modules still imported) stays, whatever
                # its scope name (scope 'asym' is package asym_plugins)
                gone = all(_outlived(o) for o in objs) if objs else \
                    scope.split('.')[0] not in sys.modules
                if gone:
                    del reg._children[scope]


#: Process-wide records of the library that a test can leave behind: (module, class or None,
#: attribute). Counters and "warn once" sets: a test asserting a run summary or a warning must
#: not depend on what ran before it in the same process.
PROCESS_RECORDS = (
    ('asym_plugins.data.transforms.loading', 'LoadReIDImage', 'num_skipped'),
    ('asym_plugins.data.datasets.file_layout', None, 'SKIPPED'),
    ('asym_plugins.data.datasets.regdb', None, '_WARNED'),
)


@contextlib.contextmanager
def process_records_restored():
    """The :data:`PROCESS_RECORDS` values are put back after the block (containers in place,
    so modules holding them see the restored content). Entries that no longer exist are
    ignored."""
    import copy
    saved = []
    for mod_name, cls_name, attr in PROCESS_RECORDS:
        try:
            owner = importlib.import_module(mod_name)
            owner = getattr(owner, cls_name) if cls_name else owner
            saved.append((owner, attr, copy.deepcopy(getattr(owner, attr))))
        except (ImportError, AttributeError):
            continue
    try:
        yield
    finally:
        for owner, attr, value in saved:
            current = getattr(owner, attr)
            if isinstance(current, (dict, set, list)) and type(current) is type(value):
                current.clear()
                (current.extend if isinstance(current, list) else current.update)(value)
            else:
                setattr(owner, attr, value)


@pytest.fixture(autouse=True)
def _restore_mmengine_globals():
    """Tests are independent of order (random order, xdist): see
    :func:`mmengine_globals_restored` and :func:`process_records_restored`."""
    with mmengine_globals_restored(), process_records_restored():
        yield


# ------------------------------------------------------------------ torchreid as a reference
def _torchreid_rank_module():
    require('torchreid')
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "Cython evaluation is unavailable"
        from torchreid.reid.metrics import rank
    fn = rank.evaluate_rank
    # register_all() rebinds torchreid.reid.metrics.evaluate_rank only; this must stay theirs
    assert fn.__module__ == 'torchreid.reid.metrics.rank' and \
        'asym_plugins' not in fn.__code__.co_filename, fn
    return rank


@contextlib.contextmanager
def _numpy_aliases():
    """``np.int`` / ``np.bool`` / ``np.float``, used by torchreid 0.2.5 and missing from some
    numpy releases, for the duration of a torchreid call."""
    import numpy as np
    added = [a for a in ('int', 'bool', 'float') if not hasattr(np, a)]
    for a in added:
        setattr(np, a, {'int': int, 'bool': bool, 'float': float}[a])
    try:
        yield
    finally:
        for a in added:
            delattr(np, a)


def torchreid_evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    """torchreid's own (python) market evaluator, never our replacement: ``(cmc, mAP)`` as
    fractions."""
    import numpy as np
    import torch
    rank = _torchreid_rank_module()
    if isinstance(distmat, torch.Tensor):
        distmat = distmat.detach().cpu().double().numpy()
    with _numpy_aliases():
        return rank.evaluate_rank(np.asarray(distmat, dtype=np.float64), np.asarray(q_pids),
                                  np.asarray(g_pids), np.asarray(q_camids),
                                  np.asarray(g_camids), max_rank=max_rank,
                                  use_metric_cuhk03=False, use_cython=False)


def torchreid_distance(qf, gf, metric='euclidean'):
    """torchreid's ``compute_distance_matrix`` (``'euclidean'``: squared, ``'cosine'``)."""
    require('torchreid')
    from torchreid.reid.metrics.distance import compute_distance_matrix
    return compute_distance_matrix(qf.float(), gf.float(), metric)

