"""Import shim for MMEngine's scope switch.

MMEngine imports ``<scope>.registry`` when a config sets ``default_scope``; our scope is
``asym``, our package ``asym_plugins``. This two-file package bridges the two names.
"""
