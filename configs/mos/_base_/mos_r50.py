# MoS with ResNet-50 (last stride 1), BoT-style recipe [ours, unverified: METHODS.md section 1]:
# 256x128, P x K = 16 x 4, Adam 3.5e-4, ID loss (label smoothing) on BNNeck(g) + Jaccard triplet
# on the pattern vector g = relu(maxpool(features)); test: 1 - J, CP re-scoring of the top-R.
# Dataset configs (configs/mos/<dataset>.py) set the datasets and model.head.num_classes.
# MoS_wIBN: backbone type 'ResNetIBN' (configs/mos/*_wibn.py).
# ImageNet weights (a local torchvision resnet50 state_dict, or the ResNet-50-IBN-a release for
# MoS_wIBN): in a child config, model = dict(backbone=dict(init_cfg=dict(_delete_=True,
# type='Pretrained', checkpoint='checkpoints/resnet50.pth'))) (docs/mos.md); None = from scratch.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/schedules/bot_adam.py']
custom_imports = dict(imports=['asym_plugins', 'asym_plugins.methods.mos'],
                      allow_failed_imports=False)

img_h, img_w = 256, 128
batch_size, num_instances = 64, 4
num_workers = 8

model = dict(
    type='MoSModel',
    backbone=dict(type='ReIDResNet', depth=50, last_stride=1, init_cfg=None),
    neck=dict(type='GlobalPooling', pooling='max'),
    head=dict(type='BNNeckHead', num_classes=None),     # set by the dataset config
    losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                jaccard=dict(type='JaccardTripletLoss', margin=0.3, tau=10.0)),
    prior=dict(decay=1.0),                               # running max of the spec
    train_cp=dict(weight=0.0, eps=1.0, topk=32),         # CP at inference only
)

train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=(img_w, img_h), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PadRandomCrop', padding=10),
    dict(type='RandomErasing', prob=0.5),
    dict(type='PackReIDInputs'),
]
test_pipeline = [
    dict(type='LoadReIDImage', skip_undecodable=False),
    dict(type='Resize', scale=(img_w, img_h), keep_ratio=False),
    dict(type='PackReIDInputs'),
]
train_dataloader = dict(
    batch_size=batch_size, num_workers=num_workers, persistent_workers=True,
    sampler=dict(type='IdentitySampler', batch_size=batch_size, num_instances=num_instances),
    dataset=dict(split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256, num_workers=num_workers, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='QueryGalleryDataset',
                 query=dict(split='query', pipeline=test_pipeline),
                 gallery=dict(split='gallery', pipeline=test_pipeline)))
test_dataloader = val_dataloader
# cp_lambda = 0 ranks by J alone; SIM / k-reciprocal stack on top with reranker=dict(type=...).
val_evaluator = dict(type='MoSMetric', cp_lambda=0.1, cp_eps=1.0, cp_topk=32, top_r=100,
                     device='cpu')
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(interval=10))
