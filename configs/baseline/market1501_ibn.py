# BoT with ResNet-50-IBN-a on Market-1501. ImageNet IBN-a weights from a local file.
_base_ = ['./market1501.py']
model = dict(backbone=dict(_delete_=True, type='ResNetIBN', depth=50, last_stride=1,
                           init_cfg=dict(type='Pretrained',
                                         checkpoint='checkpoints/resnet50_ibn_a.pth')))
