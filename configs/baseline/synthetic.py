# BoT baseline on the embedded synthetic world (holistic preset), CPU-sized: a few minutes on 2 cores.
#   python tools/train.py configs/baseline/synthetic.py
_base_ = [
    '../_base_/datasets/synthetic_reid.py',
    '../_base_/schedules/cpu_short.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='ReIDBaseline',
    backbone=dict(type='SmallReIDNet', out_channels=256, stride=16),
    neck=dict(type='GlobalPooling', pooling='avg'),
    head=dict(type='BNNeckHead', num_classes=100),  # the holistic preset's 100 training ids
    losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                triplet=dict(type='TripletLoss', margin=0.3)),
)
default_hooks = dict(logger=dict(interval=10))
