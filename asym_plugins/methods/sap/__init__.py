"""SAP: Semi-Attention Partition for occluded person Re-ID (docs/sap.md).

Plain-Python API (no MMEngine needed for the math)::

    from asym_plugins.methods.sap import (patch_part_distribution, foreground_flag,
                                          patch_attention_target, ssd_drop_probabilities)

Importing this package registers ``SAPModel``, the two distillation losses (``MODELS``), the
teachers (``TEACHERS``) and ``LoadTeacherPartMask`` (``TRANSFORMS``).
"""
from .losses import (
                     PatchConsistencyDistillLoss,
                     ProxyConsistencyDistillLoss,
                     attention_distillation_loss,
)
from .model import SAP_DEFAULT_LOSSES, PartHeads, SAPModel
from .modules import CrossAttention, PartProxyModule
from .part_targets import (
                     DEFAULT_LABEL_MAPS,
                     default_label_map,
                     foreground_flag,
                     map_part_labels,
                     patch_attention_target,
                     patch_part_distribution,
                     proxy_attention_target,
                     ssd_drop_probabilities,
                     ssd_drop_rates,
                     ssd_keep_mask,
)
from .teachers import (
                     BasePartTeacher,
                     KeypointTeacher,
                     NoisyMaskTeacher,
                     ParserModelTeacher,
                     PrecomputedMaskTeacher,
                     RuleTeacher,
                     SampleMaskTeacher,
                     build_teacher,
                     render_keypoint_mask,
)
from .transforms import LoadTeacherPartMask

__all__ = [
    'SAPModel', 'SAP_DEFAULT_LOSSES', 'PartHeads', 'PatchConsistencyDistillLoss',
    'ProxyConsistencyDistillLoss', 'attention_distillation_loss', 'CrossAttention',
    'PartProxyModule', 'DEFAULT_LABEL_MAPS', 'default_label_map', 'foreground_flag',
    'map_part_labels', 'patch_attention_target', 'patch_part_distribution',
    'proxy_attention_target', 'ssd_drop_probabilities', 'ssd_drop_rates', 'ssd_keep_mask',
    'BasePartTeacher',
    'SampleMaskTeacher', 'RuleTeacher', 'NoisyMaskTeacher', 'PrecomputedMaskTeacher',
    'KeypointTeacher', 'ParserModelTeacher', 'build_teacher', 'render_keypoint_mask',
    'LoadTeacherPartMask'
]
