# MoS on DukeMTMC-reID (ResNet-50): python tools/train.py configs/mos/dukemtmcreid.py
# Data: data/dukemtmcreid (DukeMTMC-reID/{bounding_box_train,query,bounding_box_test}).
# Reported (slides): R1 88.7 / mAP 77.0 (MoS), 90.6 / 80.2 (MoS_wIBN: dukemtmcreid_wibn.py).
# Paper: MoS (Jia et al., AAAI 2021; thesis slides).
# Table row: DukeMTMC-reID, MoS (ResNet-50); target R1 88.7 / mAP 77.0.
# Deliberate differences: every one is listed in the header of ./_base_/mos_r50.py.
_base_ = ['../_base_/datasets/dukemtmcreid.py', './_base_/mos_r50.py']
val_evaluator = dict(_delete_=True, **_base_.mos_metric)
test_evaluator = val_evaluator
