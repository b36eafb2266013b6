"""One access point to torchreid for both of its module layouts.

* PyPI ``torchreid`` 0.2.5 nests the API under ``torchreid.reid.*`` (``import torchreid.data``
  fails there; the attribute ``torchreid.reid.data`` works);
* a source install of deep-person-reid exposes ``torchreid.*`` directly.

Everything in this package reaches torchreid through :func:`torchreid_module`, resolved at call
time (no cache), so a test can swap the layout by putting fake modules in ``sys.modules``.

Examples::
    >>> from asym_plugins.integrations.torchreid import compat
    >>> compat.layout()                       # 'reid' for PyPI 0.2.5, 'flat' for a source install
    >>> Engine = compat.torchreid_module('engine').Engine
"""
import importlib
from types import ModuleType
from typing import Dict, Optional

__all__ = ['TorchreidNotFoundError', 'torchreid_module', 'layout', 'is_available',
           'model_factory', 'image_dataset_registry', 'image_dataset_base', 'engine_base']

_PREFIXES = {'reid': 'torchreid.reid.', 'flat': 'torchreid.'}
_INSTALL_HINT = ('Install it with `pip install torchreid==0.2.5 gdown tensorboard yacs` (or '
                 '`pip install -e .[torchreid]` in the asym-reid repository), or install '
                 'deep-person-reid from source.')


class TorchreidNotFoundError(ImportError):
    """torchreid (either layout) cannot be imported."""


def _missing_is(err: ModuleNotFoundError, name: str) -> bool:
    """Whether ``err`` says that ``name`` itself (or a parent package of it) does not exist,
    as opposed to a missing dependency deeper inside torchreid."""
    missing = getattr(err, 'name', None) or ''
    return bool(missing) and (name == missing or name.startswith(missing + '.'))


def layout() -> str:
    """``'reid'`` (PyPI: ``torchreid.reid.*``) or ``'flat'`` (source install: ``torchreid.*``).

    Raises :class:`TorchreidNotFoundError` when neither imports.
    """
    try:
        importlib.import_module('torchreid')
    except ModuleNotFoundError as e:
        if _missing_is(e, 'torchreid'):
            raise TorchreidNotFoundError(f'torchreid is not installed. {_INSTALL_HINT}') from e
        raise
    try:
        importlib.import_module('torchreid.reid.models')
        return 'reid'
    except ModuleNotFoundError as e:
        if not _missing_is(e, 'torchreid.reid.models'):
            raise
    try:
        importlib.import_module('torchreid.models')
        return 'flat'
    except ModuleNotFoundError as e:
        if not _missing_is(e, 'torchreid.models'):
            raise
    raise TorchreidNotFoundError(
        'torchreid is importable but has neither torchreid.reid.models (PyPI layout) nor '
        f'torchreid.models (source layout); unsupported version. {_INSTALL_HINT}')


def is_available() -> bool:
    """Whether torchreid can be imported in either layout."""
    try:
        layout()
        return True
    except TorchreidNotFoundError:
        return False


def torchreid_module(name: str) -> ModuleType:
    """torchreid's submodule ``name`` (e.g. ``'models'``, ``'data.datasets'``,
    ``'utils.torchtools'``, ``'metrics.rank'``) in the installed layout."""
    prefix = _PREFIXES[layout()]
    return importlib.import_module(prefix + name)


def _module_dict(module: ModuleType, key: str, what: str) -> Dict:
    table = vars(module).get(key)
    if not isinstance(table, dict):
        raise RuntimeError(f'{module.__name__} has no {key} dict: this torchreid version keeps '
                           f'its {what} elsewhere; asym_plugins supports torchreid 0.2.5 and '
                           'deep-person-reid master.')
    return table


def model_factory() -> Dict:
    """torchreid's model name -> constructor table (``models.__model_factory``), the dict that
    ``build_model`` reads."""
    return _module_dict(torchreid_module('models'), '__model_factory', 'model factory')


def image_dataset_registry() -> Dict:
    """torchreid's image dataset name -> class table (``data.datasets.__image_datasets``)."""
    return _module_dict(torchreid_module('data.datasets'), '__image_datasets',
                        'image dataset registry')


def image_dataset_base() -> type:
    """torchreid's ``ImageDataset`` base class."""
    return torchreid_module('data').ImageDataset


def engine_base(name: str = 'Engine') -> type:
    """A torchreid engine class by name (``Engine``, ``ImageSoftmaxEngine``,
    ``ImageTripletEngine``)."""
    return getattr(torchreid_module('engine'), name)


def optional_module(name: str) -> Optional[ModuleType]:
    """:func:`torchreid_module` or None when that submodule does not exist."""
    try:
        return torchreid_module(name)
    except ModuleNotFoundError:
        return None
