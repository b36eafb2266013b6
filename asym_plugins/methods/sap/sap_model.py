"""Deprecated module path (one release): SAP's model is in :mod:`asym_plugins.methods.sap.model`
(the same layout as ``mos/model.py`` and ``mcma/model.py``)."""
import warnings

from .model import SAP_DEFAULT_LOSSES, PartHeads, SAPModel  # noqa: F401

warnings.warn('asym_plugins.methods.sap.sap_model is deprecated; import from '
              'asym_plugins.methods.sap.model (or asym_plugins.methods.sap).', DeprecationWarning,
              stacklevel=2)

__all__ = ['SAPModel', 'SAP_DEFAULT_LOSSES', 'PartHeads']
