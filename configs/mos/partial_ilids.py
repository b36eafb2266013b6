# MoS trained on Market-1501, tested on Partial-iLIDS (see partial_reid.py).
#   python tools/train.py configs/mos/partial_ilids.py
#   python tools/test.py configs/mos/partial_ilids.py CHECKPOINT   (a partial_reid.py run)
# Data: data/market1501, data/partial_ilids. Report R1 and R3.
# Paper: MoS (Jia et al., AAAI 2021; thesis slides).
# Table row: Partial-iLIDS, MoS (trained on Market-1501); target R1 / R3 as the slides report them.
# Deliberate differences: every one is listed in the header of ./_base_/mos_r50.py.
_base_ = ['../_base_/datasets/partial_ilids.py', './_base_/mos_r50.py']
val_evaluator = dict(_delete_=True, ranks=(1, 3, 5, 10), **_base_.mos_metric)
test_evaluator = val_evaluator
