"""Batch assembly and normalisation of Re-ID images inside the model."""
from typing import Optional, Sequence, Union

import torch
from mmengine.model import ImgDataPreprocessor
from mmengine.utils import is_seq_of

from asym_plugins.registry import MODELS

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class ReIDDataPreprocessor(ImgDataPreprocessor):
    """Stack uint8 CHW images (RGB, from ``PackReIDInputs``) into a normalised float batch.

    MMEngine's :class:`ImgDataPreprocessor` with ImageNet statistics on the 0-255 scale as
    defaults, moving the batch to the model's device. Unlike the detection use of its parent,
    Re-ID batches must share one size: images of different sizes raise an error instead of
    being padded silently.

    Args:
        mean, std: per-channel statistics on the 0-255 scale (ImageNet RGB by default);
            both ``None`` disables normalisation.
        bgr_to_rgb / rgb_to_bgr: channel flips (inputs are RGB already: leave both False).
        pad_size_divisor, pad_value, non_blocking: as in MMEngine.

    Examples::
        >>> pre = ReIDDataPreprocessor()
        >>> out = pre(dict(inputs=[torch.zeros(3, 8, 4, dtype=torch.uint8)] * 2))
        >>> out['inputs'].shape, out['inputs'].dtype
        (torch.Size([2, 3, 8, 4]), torch.float32)
    """

    def __init__(self, mean: Optional[Sequence[float]] = IMAGENET_MEAN,
                 std: Optional[Sequence[float]] = IMAGENET_STD, pad_size_divisor: int = 1,
                 pad_value: Union[float, int] = 0, bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False, non_blocking: Optional[bool] = False) -> None:
        super().__init__(mean=mean, std=std, pad_size_divisor=pad_size_divisor,
                         pad_value=pad_value, bgr_to_rgb=bgr_to_rgb, rgb_to_bgr=rgb_to_bgr,
                         non_blocking=non_blocking)

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs'] if isinstance(data, dict) else None
        if is_seq_of(inputs, torch.Tensor):
            shapes = {tuple(t.shape) for t in inputs}
            if len(shapes) > 1:
                raise ValueError(
                    f'ReIDDataPreprocessor: one batch holds images of different shapes '
                    f'{sorted(shapes)}; add a Resize to a fixed size (e.g. 256x128) to the '
                    f'dataset pipeline.')
        return super().forward(data, training)
