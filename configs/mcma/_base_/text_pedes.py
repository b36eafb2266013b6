# Data of a caption dataset (CUHKPEDES / ICFGPEDES / RSTPReid). Training: image-caption pairs of
# the 'train' split, two images per identity in a batch. Test: TextImageMetric takes every
# test image as the gallery and every caption it carries as a query, so the test set is the
# captioned test images, i.e. the parsers' 'query' split (not query + gallery).
_base_ = ['./mcma_vit_bert.py']
dataset_type = 'CUHKPEDES'
data_root = 'data/CUHK-PEDES'
test_split = 'test'

train_dataloader = dict(
    batch_size={{_base_.batch_size}},
    num_workers={{_base_.num_workers}},
    persistent_workers=True,
    sampler=dict(type='IdentitySampler', batch_size={{_base_.batch_size}},
                 num_instances={{_base_.num_instances}}),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline={{_base_.train_pipeline}}),
)
val_dataloader = dict(
    batch_size=128,
    num_workers={{_base_.num_workers}},
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='query', test_split=test_split,
                 pipeline={{_base_.test_pipeline}}),
)
test_dataloader = val_dataloader
