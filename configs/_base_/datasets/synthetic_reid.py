# The embedded synthetic world (asym_plugins/data/synthetic), holistic preset, 128x64 images.
# Other presets inherit this file and override the datasets' `preset` by dict merge, e.g.
#   train_dataloader = dict(dataset=dict(preset='occluded'))
#   val_dataloader = dict(dataset=dict(query=dict(preset='occluded'), gallery=dict(preset='occluded')))
# (changing the variable `preset` below in a child config would NOT reach the dicts).
preset = 'holistic'
world_seed = 0
img_h, img_w = 128, 64
batch_size, num_instances = 32, 4
num_workers = 2

train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=(img_w, img_h), keep_ratio=False),
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
    sampler=dict(type='IdentitySampler', batch_size=batch_size, num_instances=num_instances),
    dataset=dict(type='SyntheticReIDDataset', preset=preset, seed=world_seed, split='train',
                 img_size=(img_h, img_w), pipeline=train_pipeline),
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
val_evaluator = dict(type='ReIDMetric', metric='euclidean')
test_evaluator = val_evaluator
