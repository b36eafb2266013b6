# BoT schedule (Luo et al. 2019): Adam 3.5e-4, linear warm-up 10 epochs, x0.1 at 40 and 70, 120 epochs.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[40, 70], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=120, val_interval=40)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=64)
