# MoS on the small CPU network of the synthetic twins: SmallReIDNet (C = 256 patterns, ends in
# ReLU) -> global max pooling -> pattern vector g; ID loss on BNNeck(g) + Jaccard triplet on g;
# test ranks by 1 - J with CP re-scoring of the top-R; the presets' 100 training identities.
_base_ = ['../../_base_/schedules/cpu_short.py', '../../_base_/default_runtime.py']
custom_imports = dict(imports=['asym_plugins', 'asym_plugins.methods.mos'],
                      allow_failed_imports=False)
model = dict(
    type='MoSModel',
    backbone=dict(type='SmallReIDNet', out_channels=256, stride=16),
    neck=dict(type='GlobalPooling', pooling='max'),
    head=dict(type='BNNeckHead', num_classes=100),
    losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                jaccard=dict(type='JaccardTripletLoss', margin=0.3, tau=10.0)),
    prior=dict(decay=1.0),
    train_cp=dict(weight=0.0),      # CP at inference only (the paper's abstract)
)
mos_metric = dict(type='MoSMetric', cp_lambda=0.1, cp_eps=1.0, cp_topk=32,
                 top_r=20)
default_hooks = dict(logger=dict(interval=10))
