# MoS on Occluded-Duke (ResNet-50): python tools/train.py configs/mos/occluded_duke.py
# Data: data/occluded_duke (Occluded_Duke/{bounding_box_train,query,bounding_box_test}).
# Reported (slides): R1 61.0 / mAP 49.2 (MoS), 66.6 / 55.1 (MoS_wIBN: occluded_duke_wibn.py).
# CPU twin: configs/mos/synthetic_occluded.py.
# Paper: MoS (Jia et al., AAAI 2021; thesis slides).
# Table row: Occluded-Duke, MoS (ResNet-50); target R1 61.0 / mAP 49.2.
# Deliberate differences: every one is listed in the header of ./_base_/mos_r50.py.
_base_ = ['../_base_/datasets/occluded_duke.py', './_base_/mos_r50.py']
val_evaluator = dict(_delete_=True, **_base_.mos_metric)
test_evaluator = val_evaluator
