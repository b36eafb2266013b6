# CPU schedule of the synthetic infrared twins: Adam 1e-3, 2 warm-up epochs, cosine to epoch 40
# (21 iterations of 64 images per epoch). Cross-modality matching is learnt from scratch, so it
# needs more epochs than the holistic twin's 15.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=5e-4),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=2, end=40, eta_min=1e-5),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=40, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
