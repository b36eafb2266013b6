# MoS_wIBN on occluded_duke: configs/mos/occluded_duke.py with a ResNet-50-IBN-a backbone.
#   python tools/train.py configs/mos/occluded_duke_wibn.py
_base_ = ['./occluded_duke.py']
# ImageNet weights: the ResNet-50-IBN-a release (IBN-Net), a local file.
model = dict(backbone=dict(type='ResNetIBN', depth=50, last_stride=1, ibn_ratio=0.5,
                           init_cfg=dict(checkpoint='checkpoints/resnet50_ibn_a.pth')))
