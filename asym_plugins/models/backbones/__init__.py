"""Backbones: ReIDResNet (torchvision ResNets, last stride 1), ResNetIBN (IBN-a), SmallReIDNet."""
from .base import BaseReIDBackbone, check_local_checkpoint, pretrained_init_cfgs
from .resnet import ReIDResNet
from .resnet_ibn import IBN, ResNetIBN
from .small_net import SmallReIDNet

__all__ = ['BaseReIDBackbone', 'check_local_checkpoint', 'pretrained_init_cfgs', 'ReIDResNet',
           'IBN', 'ResNetIBN', 'SmallReIDNet']
