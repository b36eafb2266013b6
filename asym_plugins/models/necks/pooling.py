"""Global pooling necks: (N, C, H, W) feature map -> (N, C) feature."""
from typing import Sequence, Union

import torch
import torch.nn as nn

from asym_plugins.registry import MODELS

FeatureMaps = Union[torch.Tensor, Sequence[torch.Tensor]]


def _last_map(x: FeatureMaps) -> torch.Tensor:
    """A backbone may return a tuple of stage maps; the necks pool the last one."""
    if isinstance(x, (tuple, list)):
        x = x[-1]
    if x.dim() != 4:
        raise ValueError(f'Global pooling expects a (N, C, H, W) feature map, '
                         f'got shape {tuple(x.shape)}.')
    return x


@MODELS.register_module()
class GlobalAvgPool(nn.Module):
    """Global average pooling, (N, C, H, W) -> (N, C)."""

    def forward(self, x: FeatureMaps) -> torch.Tensor:
        return _last_map(x).mean(dim=(2, 3))


@MODELS.register_module()
class GlobalMaxPool(nn.Module):
    """Global max pooling, (N, C, H, W) -> (N, C)."""

    def forward(self, x: FeatureMaps) -> torch.Tensor:
        return _last_map(x).amax(dim=(2, 3))


@MODELS.register_module()
class GeneralizedMeanPooling(nn.Module):
    """Generalised-mean (GeM) pooling (Radenovic et al. 2018), (N, C, H, W) -> (N, C).

    ``f_c = (mean_{h,w} max(x_chw, eps)^p)^(1/p)``: ``p = 1`` is average pooling and
    ``p -> inf`` tends to max pooling. The clamp at ``eps`` keeps the power defined for
    non-positive activations.

    Args:
        p: initial exponent (3 in AGW / fast-reid).
        eps: lower clamp of the activations.
        learn_p: make ``p`` a learnable parameter (else a buffer).

    Examples::
        >>> GeneralizedMeanPooling(p=1.0)(torch.ones(2, 4, 3, 3)).shape
        torch.Size([2, 4])
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learn_p: bool = True) -> None:
        super().__init__()
        if p <= 0:
            raise ValueError(f'GeneralizedMeanPooling: p must be positive, got {p}.')
        self.eps = eps
        p_tensor = torch.tensor([float(p)])
        if learn_p:
            self.p = nn.Parameter(p_tensor)
        else:
            self.register_buffer('p', p_tensor)

    def forward(self, x: FeatureMaps) -> torch.Tensor:
        x = _last_map(x)
        p = self.p.to(x.dtype)
        return x.clamp(min=self.eps).pow(p).mean(dim=(2, 3)).pow(1.0 / p)

    def extra_repr(self) -> str:
        return f'p={float(self.p.detach()):.4f}, eps={self.eps}'


_POOLINGS = {'avg': GlobalAvgPool, 'max': GlobalMaxPool, 'gem': GeneralizedMeanPooling}


def build_global_pooling(pooling: str = 'avg', **kwargs) -> nn.Module:
    """Pooling module by name: ``'avg'``, ``'max'`` or ``'gem'`` (kwargs go to GeM)."""
    if pooling not in _POOLINGS:
        raise ValueError(f'Unknown global pooling {pooling!r}; choose one of '
                         f'{sorted(_POOLINGS)} (model.neck.pooling).')
    if pooling != 'gem' and kwargs:
        raise ValueError(f'Global pooling {pooling!r} takes no arguments, got {sorted(kwargs)} '
                         f'(p / eps / learn_p apply to pooling=\'gem\' only).')
    return _POOLINGS[pooling](**kwargs)


@MODELS.register_module()
class GlobalPooling(nn.Module):
    """Global pooling chosen by name, the usual neck of :class:`ReIDBaseline`.

    Args:
        pooling: ``'avg'`` | ``'max'`` | ``'gem'``.
        **gem_kwargs: ``p``, ``eps``, ``learn_p`` for ``'gem'``.

    Examples::
        >>> GlobalPooling('gem', p=3.0)(torch.rand(2, 8, 4, 2)).shape
        torch.Size([2, 8])
    """

    def __init__(self, pooling: str = 'avg', **gem_kwargs) -> None:
        super().__init__()
        self.pooling = pooling
        self.pool = build_global_pooling(pooling, **gem_kwargs)

    def forward(self, x: FeatureMaps) -> torch.Tensor:
        return self.pool(x)
