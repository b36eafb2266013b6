# SAP, the paper recipe (METHODS.md section 2), shared by configs/sap/<dataset>.py:
# ViT-B/16 ImageNet student, overlapping patches 16/12, 256x128, SGD lr 0.008, 120 epochs with
# warm-up, 16 ids x 4, flip / pad 10 / random erasing, mean = std = 0.5, test feature before the
# BNNecks, L2-normalised. A dataset config sets the data, num_classes and the teacher.
_base_ = ['../../_base_/default_runtime.py']
custom_imports = dict(imports=['asym_plugins', 'asym_plugins.methods.sap'],
                      allow_failed_imports=False)

# Where the ImageNet ViT-B/16 weights are (timm 'vit_base_patch16_224' / TransReID's
# jx_vit_base_p16_224-80ecf9dd.pth, or torchvision 'vit_b_16'; converted on load).
vit_checkpoint = 'pretrained/jx_vit_base_p16_224-80ecf9dd.pth'
img_h, img_w = 256, 128
batch_size, num_instances = 64, 4
num_workers = 8
pixel_mean = (127.5, 127.5, 127.5)
pixel_std = (127.5, 127.5, 127.5)

model = dict(
    type='SAPModel',
    backbone=dict(type='ReIDViT', arch='base', img_size=(img_h, img_w), patch_size=16,
                  stride=12, drop_path_rate=0.1, pos_embed_interp='bicubic',
                  init_cfg=dict(type='Pretrained', checkpoint=vit_checkpoint)),
    num_classes=None,              # set by the dataset config
    num_parts=4,                   # head / upper body (+bag) / lower body / shoes
    part_target=dict(lam=10.0, gamma=0.5, pool='mean'),
    patch_loss=dict(type='PatchConsistencyDistillLoss', loss_weight=1.0, temperature=0.2,
                    head_reduce='mean'),
    patch_layers=(-3, -2, -1),     # the last three of 12 layers
    proxy=dict(num_heads=1, mapr=True, ffn_ratio=2.0),
    proxy_loss=dict(type='ProxyConsistencyDistillLoss', loss_weight=1.0, temperature=0.2),
    ssd=dict(drop_ratio=0.25),
    losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                triplet=dict(type='TripletLoss', margin=0.3)),
    part_loss_weight=1.0,
    test_feature='before_bn',
    data_preprocessor=dict(type='ReIDDataPreprocessor', mean=pixel_mean, std=pixel_std),
)

test_pipeline = [
    dict(type='LoadReIDImage', skip_undecodable=False, with_part_mask=False),
    dict(type='Resize', scale=(img_w, img_h), keep_ratio=False),
    dict(type='PackReIDInputs'),
]
train_dataloader = dict(
    batch_size=batch_size, num_workers=num_workers, persistent_workers=True,
    sampler=dict(type='IdentitySampler', batch_size=batch_size, num_instances=num_instances))
val_dataloader = dict(
    batch_size=256, num_workers=num_workers, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
val_evaluator = dict(type='ReIDMetric', metric='euclidean', normalize_feature=True)
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.008, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(bias_lr_mult=2.0),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=120, eta_min=1.6e-6,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=120, val_interval=20)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(interval=10))
