# Ablation: MoS without the conflict penalty (rank by 1 - J only) on the synthetic partial preset.
# CP is test-time only in synthetic_partial.py (train_cp weight 0), so a trained MoS checkpoint
# is evaluated without CP by:
#   python tools/test.py configs/mos/ablation/synthetic_partial_nocp.py WORK_DIR/epoch_15.pth
# (training with this file gives the same model: same seed, same losses).
_base_ = ['../synthetic_partial.py']
val_evaluator = dict(cp_lambda=0.0)
test_evaluator = val_evaluator
