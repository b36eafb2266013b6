"""Backbones: ReIDResNet (torchvision ResNets, last stride 1), ResNetIBN (IBN-a), SmallReIDNet."""
from .base import BaseReIDBackbone, check_local_checkpoint, pretrained_init_cfgs
from .resnet import ReIDResNet
from .resnet_ibn import IBN, ResNetIBN
from .small_net import SmallReIDNet

__all__ = ['BaseReIDBackbone', 'check_local_checkpoint', 'pretrained_init_cfgs', 'ReIDResNet',
           'IBN', 'ResNetIBN', 'SmallReIDNet']
from .vit import ReIDViT, convert_vit_state_dict, resize_pos_embed  # noqa: E402,F401  (SAP/MCMA ViT)
from .agw import AGWModel, TwoStreamResNet, TwoStreamSmallReIDNet  # noqa: E402,F401  (AGW, SIM)
