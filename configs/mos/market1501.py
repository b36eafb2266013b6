# MoS on Market-1501 (ResNet-50): python tools/train.py configs/mos/market1501.py
# Data: data/market1501 (Market-1501-v15.09.15/{bounding_box_train,query,bounding_box_test}).
# Reported (slides): R1 94.7 / mAP 86.8 (MoS), 95.4 / 89.0 (MoS_wIBN: market1501_wibn.py).
# Paper: MoS (Jia et al., AAAI 2021; thesis slides).
# Table row: Market-1501, MoS (ResNet-50); target R1 94.7 / mAP 86.8.
# Deliberate differences: every one is listed in the header of ./_base_/mos_r50.py.
_base_ = ['../_base_/datasets/market1501.py', './_base_/mos_r50.py']
val_evaluator = dict(_delete_=True, **_base_.mos_metric)
test_evaluator = val_evaluator
