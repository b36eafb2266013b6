# Ablation: the BoT baseline (ReIDBaseline, ID + Euclidean batch-hard triplet, avg pooling,
# BNNeck test feature) with MoS's backbone, budget and seed on the synthetic partial preset.
#   python tools/train.py configs/mos/ablation/baseline_synthetic_partial.py
_base_ = ['../../_base_/datasets/synthetic_partial.py', '../../_base_/models/bot_small.py',
          '../../_base_/schedules/cpu_short.py', '../../_base_/default_runtime.py']
default_hooks = dict(logger=dict(interval=10))
