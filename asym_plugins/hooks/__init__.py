"""MMEngine hooks of this package."""
from .portable_checkpoint import PortableCheckpointHook, PortableHistoryBuffer

__all__ = ['PortableCheckpointHook', 'PortableHistoryBuffer']
