# The image Re-ID data recipe every dataset base builds on (BoT, Luo et al. 2019): 256x128,
# flip / pad 10 + crop / random erasing, P x K = 16 x 4 identity batches, query + gallery test
# set. The datasets are left open: a dataset base fills `type` and `data_root`
# (docs/architecture.md).
# Other input sizes: a size-named base (e.g. sysu_mm01_288x144.py) rewrites the Resize steps.
img_h, img_w = 256, 128
batch_size, num_instances = 64, 4
num_workers = 8

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
    batch_size=batch_size,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='IdentitySampler', batch_size=batch_size, num_instances=num_instances),
    dataset=dict(split='train', pipeline=train_pipeline),
)
# One test set: QueryGalleryDataset serves the query split, then the gallery split.
val_dataloader = dict(
    batch_size=256,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='QueryGalleryDataset',
                 query=dict(split='query', pipeline=test_pipeline),
                 gallery=dict(split='gallery', pipeline=test_pipeline)),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='ReIDMetric', metric='euclidean')
test_evaluator = val_evaluator
