# MoS_wIBN on dukemtmcreid: configs/mos/dukemtmcreid.py with a ResNet-50-IBN-a backbone.
#   python tools/train.py configs/mos/dukemtmcreid_wibn.py
# Paper: MoS (Jia et al., AAAI 2021; thesis slides).
# Table row: DukeMTMC-reID, MoS_wIBN; target R1 90.6 / mAP 80.2.
# Deliberate differences: every one is listed in the header of ./_base_/mos_r50.py.
_base_ = ['./dukemtmcreid.py']
# ImageNet weights: the ResNet-50-IBN-a release (IBN-Net), a local file.
model = dict(backbone=dict(type='ResNetIBN', depth=50, last_stride=1, ibn_ratio=0.5,
                           init_cfg=dict(checkpoint='checkpoints/resnet50_ibn_a.pth')))
