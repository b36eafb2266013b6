# CPU twin of configs/sim/sysu_mm01_bot.py (SIM's released base model) on the synthetic infrared
# preset: single-stream SmallReIDNet, GAP, BNNeck, ID (label smoothing) + batch-hard triplet 0.3,
# batches of 8 identities x (4 visible + 4 infrared); evaluated with and without SIM ('sim/' keys).
#   python tools/train.py configs/sim/synthetic_ir_bot.py
_base_ = [
    '../_base_/datasets/synthetic_ir.py',
    '_base_/synthetic_ir_schedule.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='ReIDBaseline',
    backbone=dict(type='SmallReIDNet', out_channels=256, stride=16),
    neck=dict(type='GlobalPooling', pooling='avg'),
    head=dict(type='BNNeckHead', num_classes=100),
    losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                triplet=dict(type='TripletLoss', margin=0.3)),
    test_feature='after_bn',
)
default_hooks = dict(logger=dict(interval=10))
# asym_plugins.methods.sim registers SIMReranker, which SIMRerankHook builds.
custom_imports = dict(imports=['asym_plugins', 'asym_plugins.methods.sim'],
                      allow_failed_imports=False)
custom_hooks = [
    dict(type='PortableCheckpointHook'),
    dict(type='SIMRerankHook', mode='official', preset='sysu_mm01'),
]
