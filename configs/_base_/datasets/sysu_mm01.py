# SYSU-MM01 (infrared <-> visible), real images under data/SYSU-MM01 (layout: SYSUMM01's docstring).
# Training: train + val ids (395), both modalities; batches of P identities x
# (K visible + K infrared).
# Test: infrared queries (cams 3, 6) against the visible all-search gallery pool; SYSUMetric samples
# multi-shot galleries (10 images per (pid, camera)), 10 trials, as SIM's released results.
# Distances: Euclidean between L2-normalised features (SIM's released code).
# Children change the image size by redefining the pipelines and re-pointing the datasets at them.
data_root = 'data/SYSU-MM01'
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
    dataset=dict(type='SYSUMM01', data_root=data_root, split='train', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='QueryGalleryDataset',
        query=dict(type='SYSUMM01', data_root=data_root, split='query', pipeline=test_pipeline),
        gallery=dict(type='SYSUMM01', data_root=data_root, split='gallery', search_mode='all',
                     pipeline=test_pipeline)),
)
test_dataloader = val_dataloader
# Official galleries: add perm_file='data/SYSU-MM01/exp/rand_perm_cam.mat' when you have it.
val_evaluator = dict(type='SYSUMetric', mode='all', shots=10, trials=10, metric='euclidean',
                     normalize_feature=True)
test_evaluator = val_evaluator
