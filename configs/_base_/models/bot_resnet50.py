# BoT (Luo et al. 2019): ResNet-50 last stride 1, GAP, BNNeck, ID (label smoothing) + triplet 0.3.
# num_classes=None: the number of training identities, filled from the training split.
# ImageNet weights come from a local file (nothing is downloaded): set
#   model.backbone.init_cfg.checkpoint=/path/to/resnet50-0676ba61.pth   (torchvision layout)
pretrained = 'checkpoints/resnet50_imagenet.pth'
model = dict(
    type='ReIDBaseline',
    backbone=dict(type='ReIDResNet', depth=50, last_stride=1,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='GlobalPooling', pooling='avg'),
    head=dict(type='BNNeckHead', num_classes=None),
    losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                triplet=dict(type='TripletLoss', margin=0.3)),
    test_feature='after_bn',
)
