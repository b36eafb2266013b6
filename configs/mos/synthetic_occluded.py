# MoS on the synthetic occluded preset: the CPU twin of configs/mos/occluded_duke.py.
#   python tools/train.py configs/mos/synthetic_occluded.py          (a few minutes on 2 cores)
# Ablations: configs/mos/ablation/ (MoS without CP, the BoT baseline, same budget/seed).
_base_ = ['../_base_/datasets/synthetic_occluded.py', './_base_/mos_small.py']
val_evaluator = dict(_delete_=True, **_base_.mos_metric)
test_evaluator = val_evaluator
