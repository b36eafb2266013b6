# BoT baseline on the embedded synthetic world (holistic preset), CPU-sized: a few minutes on 2 cores.
#   python tools/train.py configs/baseline/synthetic.py
_base_ = [
    '../_base_/datasets/synthetic_reid.py',
    '../_base_/models/bot_small.py',
    '../_base_/schedules/cpu_short.py',
    '../_base_/default_runtime.py',
]
default_hooks = dict(logger=dict(interval=10))
