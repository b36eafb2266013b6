"""Runtime support: checkpoint I/O and launching on machines without GPUs."""
from .checkpoint import AtomicLocalBackend, allow_checkpoint_globals, checkpoint_safe_globals
from .launch import prepare_runtime_cfg, scale_epochs

__all__ = ['AtomicLocalBackend', 'allow_checkpoint_globals', 'checkpoint_safe_globals',
           'prepare_runtime_cfg', 'scale_epochs']
