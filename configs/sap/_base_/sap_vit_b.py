# SAP, the paper recipe (docs/sap.md), shared by configs/sap/<dataset>.py: ViT-B/16 ImageNet
# student, overlapping patches 16/12, 256x128, SGD lr 0.008, 120 epochs with warm-up, 16 ids x 4,
# flip / pad 10 / random erasing (fill 127.5), mean = std = 0.5, test feature before the BNNecks,
# L2-normalised. A leaf adds a dataset base, the teacher's mask_root and applies the `sap_*`
# data keys below (the train pipeline loads the teacher's part mask, so flip / pad-crop move it
# with the image); num_classes comes from the training split.
# Deliberate differences from the thesis (all [ours]; docs/sap.md): SSD's drop probability
# min(1, drop_ratio * N * p(i)) (the scaling of the redundancy p to a drop ratio); attention
# maps averaged over heads before L_patch (head_reduce='mean'); part features scaled by 1/K in
# the test feature (part_feature_scale). Target temperature 1 as in the slides.
_base_ = ['../../_base_/default_runtime.py']
custom_imports = dict(imports=['asym_plugins', 'asym_plugins.methods.sap'],
                      allow_failed_imports=False)

# Where the ImageNet ViT-B/16 weights are (timm 'vit_base_patch16_224' / TransReID's
# jx_vit_base_p16_224-80ecf9dd.pth, or torchvision 'vit_b_16'; converted on load).
vit_checkpoint = 'checkpoints/jx_vit_base_p16_224-80ecf9dd.pth'
pixel_mean = (127.5, 127.5, 127.5)
pixel_std = (127.5, 127.5, 127.5)

model = dict(
    type='SAPModel',
    backbone=dict(type='ReIDViT', arch='base', img_size=(256, 128), patch_size=16,
                  stride=12, drop_path_rate=0.1, pos_embed_interp='bicubic',
                  init_cfg=dict(type='Pretrained', checkpoint=vit_checkpoint)),
    num_classes=None,
    num_parts=4,                   # head / upper body (+bag) / lower body / shoes
    part_target=dict(lam=10.0, gamma=0.5, pool='mean'),
    # Target temperature 1: the slides' softmax(A_patch) and softmax(m_hat^T) have none
    # (docs/sap.md eqs. (3), (4)); the synthetic twin's 0.2 is not the paper's.
    patch_loss=dict(type='PatchConsistencyDistillLoss', loss_weight=1.0, temperature=1.0,
                    head_reduce='mean'),
    patch_layers=(-3, -2, -1),     # the last three of 12 layers
    proxy=dict(num_heads=1, mapr=True, ffn_ratio=2.0),
    proxy_loss=dict(type='ProxyConsistencyDistillLoss', loss_weight=1.0, temperature=1.0),
    ssd=dict(drop_ratio=0.25),
    losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                triplet=dict(type='TripletLoss', margin=0.3)),
    part_loss_weight=1.0,
    test_feature='before_bn',
    data_preprocessor=dict(type='ReIDDataPreprocessor', mean=pixel_mean, std=pixel_std),
)

# The teacher: part masks on disk (Pascal-Person-Part PNGs, the images' stems) under a leaf's
# mask_root. Other teachers: dict(type='RuleTeacher') (no files), a KeypointTeacher (COCO-17
# json) or a ParserModelTeacher (TorchScript / ONNX), label_set 'lip' / 'atr' for such parsers.
teacher = dict(type='PrecomputedMaskTeacher', label_set='pascal_person_part', suffix='.png')
sap_train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='LoadTeacherPartMask', teacher=teacher),
    dict(type='Resize', scale=(128, 256), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PadRandomCrop', padding=10),
    dict(type='RandomErasing', prob=0.5, fill=(127.5, 127.5, 127.5)),
    dict(type='PackReIDInputs'),
]
sap_test_pipeline = [
    dict(type='LoadReIDImage', skip_undecodable=False, with_part_mask=False),
    dict(type='Resize', scale=(128, 256), keep_ratio=False),
    dict(type='PackReIDInputs'),
]
# Merged by a leaf onto its dataset base: the SAP test pipeline, L2-normalised test features.
sap_val_dataloader = dict(dataset=dict(query=dict(pipeline=sap_test_pipeline),
                                       gallery=dict(pipeline=sap_test_pipeline)))
sap_evaluator = dict(normalize_feature=True)
# The hook gets the teacher's mask from each sample; a leaf adds its preflight checks (what is
# missing and where it goes, said before anything is built), starting from `vit_preflight`.
sap_hook = dict(type='TeacherDistillationHook', teacher=dict(type='SampleMaskTeacher'))
vit_preflight = dict(path=vit_checkpoint, kind='file',
                     field='vit_checkpoint (model.backbone.init_cfg.checkpoint)',
                     what='ImageNet ViT-B/16 weights (timm or torchvision state_dict)')

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
