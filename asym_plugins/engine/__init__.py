"""Runtime support: checkpoint I/O, launching on machines without GPUs, work-dir ownership and
command-line error handling."""
from .checkpoint import (
                         AtomicLocalBackend,
                         CheckpointFileError,
                         CheckpointMismatchError,
                         allow_checkpoint_globals,
                         checkpoint_problem,
                         checkpoint_safe_globals,
)
from .cli import ConfigError, MissingInputError, UserError, run_cli
from .launch import apply_resume, prepare_runtime_cfg, scale_epochs, validate_cfg
from .workdir import WorkDirLock, WorkDirLockedError, find_resume_checkpoint

__all__ = ['AtomicLocalBackend', 'CheckpointFileError', 'CheckpointMismatchError',
           'allow_checkpoint_globals', 'checkpoint_problem', 'checkpoint_safe_globals',
           'ConfigError', 'MissingInputError', 'UserError', 'run_cli', 'apply_resume',
           'prepare_runtime_cfg', 'scale_epochs', 'validate_cfg', 'WorkDirLock',
           'WorkDirLockedError', 'find_resume_checkpoint']
