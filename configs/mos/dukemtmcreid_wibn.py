# MoS_wIBN on dukemtmcreid: configs/mos/dukemtmcreid.py with a ResNet-50-IBN-a backbone.
#   python tools/train.py configs/mos/dukemtmcreid_wibn.py
_base_ = ['./dukemtmcreid.py']
model = dict(backbone=dict(type='ResNetIBN', depth=50, last_stride=1, ibn_ratio=0.5))
