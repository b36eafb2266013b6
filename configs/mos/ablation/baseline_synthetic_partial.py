# Ablation: the BoT baseline (ReIDBaseline, ID + Euclidean batch-hard triplet, avg pooling,
# BNNeck test feature) with MoS's backbone, budget and seed on the synthetic partial preset.
#   python tools/train.py configs/mos/ablation/baseline_synthetic_partial.py
_base_ = ['../synthetic_partial.py']
model = dict(
    _delete_=True,
    type='ReIDBaseline',
    backbone=dict(type='SmallReIDNet', out_channels=256, stride=16),
    neck=dict(type='GlobalPooling', pooling='avg'),
    head=dict(type='BNNeckHead', num_classes=100),
    losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                triplet=dict(type='TripletLoss', margin=0.3)),
)
val_evaluator = dict(_delete_=True, type='ReIDMetric', metric='euclidean')
test_evaluator = val_evaluator
