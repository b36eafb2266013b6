# RegDB (visible <-> thermal), real images under data/RegDB (layout: RegDB's docstring), trial 1.
# The protocol trains and tests one model per trial (1..10) and averages: change every `trial=1`
# below, e.g. --cfg-options train_dataloader.dataset.trial=3 val_dataloader.dataset.query.trial=3
# val_dataloader.dataset.gallery.trial=3 test_dataloader.dataset.query.trial=3
# test_dataloader.dataset.gallery.trial=3
# RegDBMetric scores both directions (v2t_*, t2v_*); distances: Euclidean between L2-normalised
# features (SIM's released code).
data_root = 'data/RegDB'
img_h, img_w = 256, 128
num_ids_per_batch, num_instances = 8, 4
batch_size = num_ids_per_batch * 2 * num_instances
num_workers = 4

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
    sampler=dict(type='CrossModalityIdentitySampler', batch_size=batch_size,
                 num_instances=num_instances),
    dataset=dict(type='RegDB', data_root=data_root, split='train', trial=1,
                 pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='QueryGalleryDataset',
        query=dict(type='RegDB', data_root=data_root, split='query', trial=1,
                   mode='visible_to_thermal', pipeline=test_pipeline),
        gallery=dict(type='RegDB', data_root=data_root, split='gallery', trial=1,
                     mode='visible_to_thermal', pipeline=test_pipeline)),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='RegDBMetric', metric='euclidean', normalize_feature=True)
test_evaluator = val_evaluator
