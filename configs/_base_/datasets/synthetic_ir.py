# The embedded synthetic world, SYSU-MM01-like 'infrared' preset (asym_plugins/data/synthetic):
# 100 training identities with visible (cams 1, 2, 4, 5) and infrared (cams 3, 6) images,
# 50 test identities; infrared queries, visible gallery; 128x64 images rendered on the fly.
# Training batches: 8 identities x (4 visible + 4 infrared) (CrossModalityIdentitySampler).
# Evaluation: the market rule (ReIDMetric; query and gallery never share a camera here), Euclidean
# distance between L2-normalised features as SIM's released code; tools/test.py --save-features
# writes the features for tools/rerank.py (the visible -> infrared direction: --swap).
_base_ = ['./visible_infrared.py']
preset = 'infrared'
world_seed = 0
img_h, img_w = 128, 64
num_workers = 2
# [ours] RandomGrayscale (mmcv) on half of the training images: in this world colour alone
# separates the visible identities, so a small network trained from scratch learns colour for
# visible images and shape for infrared ones, and cross-modality retrieval stays near chance
# (measured: 7.5 mAP after 15 epochs without it). Grey visible images force the shape cues that
# infrared keeps (build, height, sleeves, hair, bag); infrared images are already grey.
grayscale = dict(type='RandomGrayscale', prob=0.5, keep_channels=True, color_format='rgb')
train_pipeline = [s for t in _base_.train_pipeline for s in (
    [dict(t, scale=(img_w, img_h)), grayscale] if t.type == 'Resize' else
    [dict(t, padding=8)] if t.type == 'PadRandomCrop' else [t])]
test_pipeline = [dict(t, scale=(img_w, img_h)) if t.type == 'Resize' else t
                 for t in _base_.test_pipeline]
world = dict(type='SyntheticReIDDataset', preset=preset, seed=world_seed, img_size=(img_h, img_w))
train_dataloader = dict(num_workers=num_workers,
                        dataset=dict(world, cache=True, pipeline=train_pipeline))
val_dataloader = dict(num_workers=num_workers,
                      dataset=dict(query=dict(world, pipeline=test_pipeline),
                                   gallery=dict(world, pipeline=test_pipeline)))
test_dataloader = val_dataloader
val_evaluator = dict(normalize_feature=True)
test_evaluator = val_evaluator
