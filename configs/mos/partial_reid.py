# MoS for partial Re-ID as in the literature: train on Market-1501, test on Partial-REID
# (this file) and Partial-iLIDS (configs/mos/partial_ilids.py, the same training with the other
# test set; or evaluate a checkpoint of this run with
#   python tools/test.py configs/mos/partial_ilids.py work_dirs/mos/partial_reid/epoch_120.pth).
#   python tools/train.py configs/mos/partial_reid.py
# Data: data/market1501, data/partial_reid (Partial-REID_Dataset/{partial,whole}_body_images).
# Test-only sets: report R1 and R3. CPU twin: configs/mos/synthetic_partial.py.
# Paper: MoS (Jia et al., AAAI 2021; thesis slides).
# Table row: Partial-REID, MoS (trained on Market-1501); target R1 / R3 as the slides report them.
# Deliberate differences: every one is listed in the header of ./_base_/mos_r50.py.
_base_ = ['../_base_/datasets/partial_reid.py', './_base_/mos_r50.py']
val_evaluator = dict(_delete_=True, ranks=(1, 3, 5, 10), **_base_.mos_metric)
test_evaluator = val_evaluator
