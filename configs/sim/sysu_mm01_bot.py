# The base model of SIM's released code on SYSU-MM01: a BoT-style single-stream ResNet-50 (last
# stride 1, GAP, BNNeck, ID loss with label smoothing + batch-hard triplet, margin 0.3), batches of
# 16 identities x (4 visible + 4 infrared), Adam 3.5e-4, 200 epochs, x0.1 at epoch 150, 256x128.
# Evaluated with and without SIM (official mode, released SYSU-MM01 hyper-parameters; 'sim/' keys).
#   python tools/train.py configs/sim/sysu_mm01_bot.py
# ImageNet weights: a local torchvision resnet50 state_dict (nothing is downloaded).
_base_ = [
    '../_base_/datasets/sysu_mm01.py',
    '../_base_/default_runtime.py',
]
num_ids_per_batch, num_instances = 16, 4
batch_size = num_ids_per_batch * 2 * num_instances  # 128
train_dataloader = dict(
    batch_size=batch_size,
    sampler=dict(type='CrossModalityIdentitySampler', batch_size=batch_size,
                 num_instances=num_instances))
pretrained = 'checkpoints/resnet50_imagenet.pth'
model = dict(
    type='ReIDBaseline',
    backbone=dict(type='ReIDResNet', depth=50, last_stride=1,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='GlobalPooling', pooling='avg'),
    head=dict(type='BNNeckHead', num_classes=395),
    losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                triplet=dict(type='TripletLoss', margin=0.3)),
    test_feature='after_bn',
)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4),
)
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[150], gamma=0.1)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200, val_interval=20)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=128)
# asym_plugins.methods.sim registers SIMReranker, which SIMRerankHook builds.
custom_imports = dict(imports=['asym_plugins', 'asym_plugins.methods.sim'],
                      allow_failed_imports=False)
custom_hooks = [
    dict(type='PortableCheckpointHook'),
    dict(type='SIMRerankHook', mode='official', preset='sysu_mm01'),
]
