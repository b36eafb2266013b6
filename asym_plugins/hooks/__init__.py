"""MMEngine hooks of this package."""
from .progress_bar import ProgressBarHook
from .portable_checkpoint import PortableCheckpointHook, PortableHistoryBuffer
from .rerank_hook import RerankHook, SIMRerankHook
from .teacher_distillation import TeacherDistillationHook

__all__ = ['PortableCheckpointHook', 'PortableHistoryBuffer', 'ProgressBarHook', 'RerankHook',
           'SIMRerankHook', 'TeacherDistillationHook']
