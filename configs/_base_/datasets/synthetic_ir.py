# The embedded synthetic world, SYSU-MM01-like 'infrared' preset (asym_plugins/data/synthetic):
# 100 training identities with visible (cams 1, 2, 4, 5) and infrared (cams 3, 6) images,
# 50 test identities; infrared queries, visible gallery; 128x64 images rendered on the fly.
# Training batches: 8 identities x (4 visible + 4 infrared) (CrossModalityIdentitySampler).
# Evaluation: the market rule (ReIDMetric; query and gallery never share a camera here), Euclidean
# distance between L2-normalised features as SIM's released code; tools/test.py --save-features
# writes the features for tools/rerank.py (the visible -> infrared direction: --swap).
preset = 'infrared'
world_seed = 0
img_h, img_w = 128, 64
num_ids_per_batch, num_instances = 8, 4
batch_size = num_ids_per_batch * 2 * num_instances
num_workers = 2

# [ours] RandomGrayscale (mmcv) on half of the training images: in this world colour alone
# separates the visible identities, so a small network trained from scratch learns colour for
# visible images and shape for infrared ones, and cross-modality retrieval stays near chance
# (measured: 7.5 mAP after 15 epochs without it). Grey visible images force the shape cues that
# infrared keeps (build, height, sleeves, hair, bag); infrared images are already grey.
train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=(img_w, img_h), keep_ratio=False),
    dict(type='RandomGrayscale', prob=0.5, keep_channels=True, color_format='rgb'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PadRandomCrop', padding=8),
    dict(type='RandomErasing', prob=0.5),
    dict(type='PackReIDInputs'),
]
test_pipeline = [
    dict(type='LoadReIDImage', skip_undecodable=False),
    dict(type='Resize', scale=(img_w, img_h), keep_ratio=False),
    dict(type='PackReIDInputs'),
]

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='CrossModalityIdentitySampler', batch_size=batch_size,
                 num_instances=num_instances),
    dataset=dict(type='SyntheticReIDDataset', preset=preset, seed=world_seed, split='train',
                 img_size=(img_h, img_w), cache=True, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='QueryGalleryDataset',
        query=dict(type='SyntheticReIDDataset', preset=preset, seed=world_seed, split='query',
                   img_size=(img_h, img_w), pipeline=test_pipeline),
        gallery=dict(type='SyntheticReIDDataset', preset=preset, seed=world_seed,
                     split='gallery', img_size=(img_h, img_w), pipeline=test_pipeline)),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='ReIDMetric', metric='euclidean', normalize_feature=True)
test_evaluator = val_evaluator
