"""AGW's model (Ye et al. 2021, "Deep Learning for Person Re-identification: A Survey and
Outlook"): :class:`ReIDBaseline` whose two-stream backbone
(:mod:`asym_plugins.models.backbones.agw`) gets each sample's modality."""
import contextlib
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from asym_plugins.registry import MODELS
from asym_plugins.structures import ReIDDataSample

from .backbones.agw import ModalityLike
from .reid_baseline import ReIDBaseline

__all__ = ['AGW_LOSSES', 'AGWModel']


#: AGW's losses: ID loss (plain cross-entropy in the cross-modality AGW code) on the logits and
#: the weighted regularised triplet on the pooled feature ``f_t``.
AGW_LOSSES = dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.0),
                  triplet=dict(type='WeightedRegularizedTriplet'))


@MODELS.register_module()
class AGWModel(ReIDBaseline):
    """:class:`ReIDBaseline` that hands each sample's ``modality`` to a two-stream backbone.

    The modality comes from the data samples' ``modality`` metainfo (set by ``PackReIDInputs``
    from the dataset's ``modality`` field) or from ``forward(..., modality=...)``. A backbone
    without ``routes_modality`` (a single-stream one) is called as usual, so this class also
    runs the single-stream baselines.

    Defaults are AGW's: :class:`TwoStreamResNet` (ResNet-50, last stride 1, non-local 0/2/3/0),
    GeM pooling (p = 3, fixed as in the cross-modality AGW code), BNNeck, ID + weighted
    regularised triplet (on ``f_t``); test feature after the BNNeck.

    Training batches should hold both modalities (``CrossModalityIdentitySampler``): a stem
    that sees no sample gets no gradient, which distributed training only accepts with
    ``model_wrapper_cfg=dict(type='MMDistributedDataParallel', find_unused_parameters=True)``.

    Args:
        default_modality: modality assumed for samples without one (``None``: such samples
            raise a ``ValueError``).
        Other arguments: :class:`ReIDBaseline`.

    Examples::
        >>> model = AGWModel(backbone=dict(type='TwoStreamSmallReIDNet', out_channels=64),
        ...                  head=dict(type='BNNeckHead', num_classes=10))
        >>> samples = [ReIDDataSample(metainfo=dict(modality=m)) for m in ('visible', 'infrared')]
        >>> model(torch.rand(2, 3, 128, 64), samples, mode='tensor').shape
        torch.Size([2, 64])
    """

    def __init__(self, backbone: Optional[dict] = None, neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 losses: Optional[Dict[str, Optional[dict]]] = AGW_LOSSES,
                 default_modality: Optional[str] = None, **kwargs) -> None:
        if backbone is None:
            backbone = dict(type='TwoStreamResNet', depth=50, last_stride=1,
                            non_local=(0, 2, 3, 0))
        if neck is None:
            neck = dict(type='GlobalPooling', pooling='gem', p=3.0, learn_p=False)
        super().__init__(backbone=backbone, neck=neck, head=head, losses=losses, **kwargs)
        self.default_modality = default_modality
        self._batch_modality: Optional[List[str]] = None

    @property
    def routes_modality(self) -> bool:
        return bool(getattr(self.backbone, 'routes_modality', False))

    def modalities_of(self, data_samples: Optional[Sequence[ReIDDataSample]],
                      num: int) -> Optional[List[str]]:
        """The ``modality`` of each data sample (``default_modality`` where missing)."""
        if not self.routes_modality:
            return None
        if not data_samples:
            if self.default_modality is None:
                raise ValueError(
                    'AGWModel: the two-stream backbone needs each sample\'s modality; pass '
                    'data_samples with a `modality` field (or forward(..., modality=[...])) or '
                    'set model.default_modality.')
            return [self.default_modality] * num
        out = []
        for i, ds in enumerate(data_samples):
            meta = ds.metainfo if hasattr(ds, 'metainfo') else ds
            mod = meta.get('modality')
            if mod is None:
                mod = self.default_modality
            if mod is None:
                raise ValueError(
                    f'AGWModel: data sample {i} ({meta.get("img_path", "?")}) has no '
                    f'`modality` field; the dataset must give every sample modality '
                    f"'visible' or 'infrared' (or set model.default_modality).")
            out.append(mod)
        return out

    @contextlib.contextmanager
    def _routing(self, inputs: torch.Tensor, data_samples, modality: ModalityLike = None):
        """The batch's modality (``modality``, else the data samples') for
        :meth:`extract_feat` while the block runs; an outer call's choice is kept."""
        if self._batch_modality is not None and modality is None:
            yield
            return
        previous = self._batch_modality
        self._batch_modality = (modality if modality is not None
                                else self.modalities_of(data_samples, inputs.shape[0]))
        try:
            yield
        finally:
            self._batch_modality = previous

    def forward(self, inputs: torch.Tensor, data_samples: Optional[List[ReIDDataSample]] = None,
                mode: str = 'tensor', modality: ModalityLike = None):
        with self._routing(inputs, data_samples, modality):
            return super().forward(inputs, data_samples, mode)

    def loss(self, inputs: torch.Tensor, data_samples: List[ReIDDataSample]
             ) -> Dict[str, torch.Tensor]:
        """:meth:`ReIDBaseline.loss`, each sample routed by its data sample's ``modality``
        (also when called directly, as torchreid's :class:`AGWEngine` does)."""
        with self._routing(inputs, data_samples):
            return super().loss(inputs, data_samples)

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[List[ReIDDataSample]] = None) -> List[ReIDDataSample]:
        """:meth:`ReIDBaseline.predict`, routed by the data samples' ``modality``."""
        with self._routing(inputs, data_samples):
            return super().predict(inputs, data_samples)

    def extract_feat(self, inputs: torch.Tensor, modality: ModalityLike = None
                     ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """Images (N, 3, H, W) -> ``(f_t, f_i, logits)``, routed by ``modality`` (default: the
        modality of the batch being processed by :meth:`forward`)."""
        if self.routes_modality:
            if modality is None:
                modality = self._batch_modality
            if modality is None:
                modality = self.modalities_of(None, inputs.shape[0])
            maps = self.backbone(inputs, modality=modality)
        else:
            maps = self.backbone(inputs)
        f_t = self.neck(maps)
        f_i, logits = self.head(f_t)
        return f_t, f_i, logits
