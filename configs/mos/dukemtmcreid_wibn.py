# MoS_wIBN on dukemtmcreid: configs/mos/dukemtmcreid.py with a ResNet-50-IBN-a backbone.
#   python tools/train.py configs/mos/dukemtmcreid_wibn.py
_base_ = ['./dukemtmcreid.py']
# ImageNet weights: the ResNet-50-IBN-a release (IBN-Net), a local file.
model = dict(backbone=dict(type='ResNetIBN', depth=50, last_stride=1, ibn_ratio=0.5,
                           init_cfg=dict(checkpoint='checkpoints/resnet50_ibn_a.pth')))
