# AGW (Ye et al. 2021), cross-modality version: two-stream ResNet-50 (one conv1/bn1/relu/maxpool
# stem per modality, shared layer1-4, last stride 1), non-local blocks (2 in layer2, 3 in layer3),
# GeM pooling (p = 3, fixed), BNNeck, ID loss (plain cross-entropy) + weighted regularised triplet
# on the pooled feature; the test feature is taken after the BNNeck.
# ImageNet weights come from a local torchvision resnet50 state_dict (copied into both stems);
# nothing is downloaded: --cfg-options model.backbone.init_cfg.checkpoint=/path/resnet50.pth
pretrained = 'checkpoints/resnet50_imagenet.pth'
model = dict(
    type='AGWModel',
    backbone=dict(type='TwoStreamResNet', depth=50, last_stride=1, non_local=(0, 2, 3, 0),
                  modalities=('visible', 'infrared'),
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='GlobalPooling', pooling='gem', p=3.0, learn_p=False),
    head=dict(type='BNNeckHead', num_classes=None),   # from the training split
    losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.0),
                triplet=dict(type='WeightedRegularizedTriplet')),
    test_feature='after_bn',
)
# AGW's cross-modality schedule: SGD (nesterov) lr 0.1 for the BNNeck/classifier and 0.01 for the
# backbone, linear warm-up over 10 epochs, x0.1 at epochs 20 and 50; 60 epochs [ours: the end].
# One epoch uses each visible training image about once (as AGW's sampler).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1),
                                    'neck': dict(lr_mult=0.1)}),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[20, 50], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=60, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=64)
