# Cross-modality (visible <-> infrared) data recipe, on top of the image Re-ID recipe: batches of
# 8 identities x (4 visible + 4 infrared) (CrossModalityIdentitySampler), evaluation on
# L2-normalised features (SIM's released code). sysu_mm01.py and regdb.py fill the datasets.
_base_ = ['./reid_256x128.py']
num_ids_per_batch, num_instances = 8, 4
batch_size = num_ids_per_batch * 2 * num_instances
num_workers = 4
train_dataloader = dict(
    batch_size=batch_size, num_workers=num_workers,
    sampler=dict(type='CrossModalityIdentitySampler', batch_size=batch_size))
val_dataloader = dict(batch_size=128, num_workers=num_workers)
test_dataloader = val_dataloader
