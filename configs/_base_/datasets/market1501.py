# Market-1501 at 256x128 with the BoT augmentations. Put the data under data/market1501
# (either data/market1501/Market-1501-v15.09.15/... or the three folders directly).
dataset_type = 'Market1501'
data_root = 'data/market1501'
img_h, img_w = 256, 128
batch_size, num_instances = 64, 4

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
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='IdentitySampler', batch_size=batch_size, num_instances=num_instances),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='QueryGalleryDataset',
        query=dict(type=dataset_type, data_root=data_root, split='query',
                   pipeline=test_pipeline),
        gallery=dict(type=dataset_type, data_root=data_root, split='gallery',
                     pipeline=test_pipeline)),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='ReIDMetric', metric='euclidean')
test_evaluator = val_evaluator
