"""asym_plugins inside torchreid (deep-person-reid): models in its model factory, datasets in
its data manager, method engines, re-rankers in its test flow, yacs configs, and shields
against known torchreid faults (checkpoint loading on torch >= 2.6, ``np.bool``, no Cython
evaluator in the PyPI build).

Both module layouts work: PyPI ``torchreid`` 0.2.5 (``torchreid.reid.*``) and a source install
(``torchreid.*``), see :mod:`.compat`.

Examples::
    >>> from asym_plugins.integrations.torchreid import register_all
    >>> register_all()                                # idempotent
    >>> import torchreid
    >>> tr = torchreid.reid                           # or torchreid for a source install
    >>> dm = tr.data.ImageDataManager(root='data', sources='synthetic_occluded', height=128,
    ...                               width=64, train_sampler='RandomIdentitySampler')
    >>> model = tr.models.build_model('mos_small', dm.num_train_pids, pretrained=False)
    >>> from asym_plugins.integrations.torchreid.engines import MoSEngine
    >>> engine = MoSEngine(dm, model, tr.optim.build_optimizer(model, optim='adam', lr=3e-4))
    >>> engine.run(max_epoch=10, save_dir='log/mos')

Command line: ``python tools/torchreid_train.py configs/torchreid/mos.yaml``.
"""
from . import checkpoint, compat, datasets, evaluation, models, registration
from .compat import TorchreidNotFoundError, is_available, layout
from .registration import (
    METHODS,
    available_methods,
    build_torchreid_model,
    build_torchreid_reranker,
    register_all,
    register_dataset,
    register_model,
    set_torchreid_reranker,
)

__all__ = ['register_all', 'register_model', 'register_dataset', 'available_methods',
           'build_torchreid_model', 'build_torchreid_reranker', 'set_torchreid_reranker',
           'METHODS', 'layout', 'is_available', 'TorchreidNotFoundError', 'checkpoint', 'compat',
           'datasets', 'evaluation', 'models', 'registration', 'config', 'engines']


def __getattr__(name):
    # engines subclasses torchreid's Engine at import time and config needs yacs (both in the
    # torchreid extra): they load on first use. build_reranker: deprecated (one release).
    if name in ('engines', 'config'):
        import importlib
        return importlib.import_module(f'{__name__}.{name}')
    if name == 'build_reranker':
        return registration.build_reranker
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
