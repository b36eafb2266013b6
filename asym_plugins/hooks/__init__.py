"""MMEngine hooks of this package."""
from .portable_checkpoint import PortableCheckpointHook, PortableHistoryBuffer
from .rerank_hook import RerankHook, SIMRerankHook
from .teacher_distillation import TeacherDistillationHook

__all__ = ['PortableCheckpointHook', 'PortableHistoryBuffer', 'RerankHook', 'SIMRerankHook',
           'TeacherDistillationHook']
