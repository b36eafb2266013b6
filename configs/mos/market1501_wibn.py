# MoS_wIBN on market1501: configs/mos/market1501.py with a ResNet-50-IBN-a backbone.
#   python tools/train.py configs/mos/market1501_wibn.py
_base_ = ['./market1501.py']
# ImageNet weights: the ResNet-50-IBN-a release (IBN-Net), a local file.
model = dict(backbone=dict(type='ResNetIBN', depth=50, last_stride=1, ibn_ratio=0.5,
                           init_cfg=dict(checkpoint='checkpoints/resnet50_ibn_a.pth')))
