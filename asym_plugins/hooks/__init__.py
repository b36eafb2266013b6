"""MMEngine hooks of this package."""
from .portable_checkpoint import PortableCheckpointHook, PortableHistoryBuffer
from .progress_bar import ProgressBarHook
from .rerank_hook import RerankHook, SIMRerankHook
from .teacher_distillation import TeacherDistillationHook

__all__ = ['PortableCheckpointHook', 'PortableHistoryBuffer', 'ProgressBarHook', 'RerankHook',
           'SIMRerankHook', 'TeacherDistillationHook']
