"""``default_scope = 'asym'`` makes MMEngine import this module: register everything."""
import asym_plugins  # noqa: F401  (registers all modules)
from asym_plugins.registry import *  # noqa: F401,F403
