"""Backbones: ReIDResNet (torchvision ResNets, last stride 1), ResNetIBN (IBN-a), SmallReIDNet,
ReIDViT (SAP / MCMA) and the two-stream AGW backbones (TwoStreamResNet, TwoStreamSmallReIDNet)."""
from .agw import ModalityRoutingMixin, TwoStreamResNet, TwoStreamSmallReIDNet
from .base import BaseReIDBackbone, check_local_checkpoint, pretrained_init_cfgs
from .resnet import ReIDResNet
from .resnet_ibn import IBN, ResNetIBN
from .small_net import SmallReIDNet
from .vit import ReIDViT, convert_vit_state_dict, resize_pos_embed

__all__ = ['BaseReIDBackbone', 'check_local_checkpoint', 'pretrained_init_cfgs', 'ReIDResNet',
           'IBN', 'ResNetIBN', 'SmallReIDNet', 'ReIDViT', 'convert_vit_state_dict',
           'resize_pos_embed', 'ModalityRoutingMixin', 'TwoStreamResNet',
           'TwoStreamSmallReIDNet']


def __getattr__(name: str):
    # Deprecated (one release): AGWModel is a model, in asym_plugins.models.agw_model.
    if name == 'AGWModel':
        import warnings
        warnings.warn('asym_plugins.models.backbones.AGWModel moved to '
                      'asym_plugins.models.AGWModel (asym_plugins.models.agw_model); the old '
                      'path goes in the next release.', DeprecationWarning, stacklevel=2)
        from ..agw_model import AGWModel
        return AGWModel
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
