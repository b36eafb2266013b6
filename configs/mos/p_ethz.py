# MoS on P-ETHZ (ResNet-50): python tools/train.py configs/mos/p_ethz.py
# Data: data/p_ethz (P_ETHZ/{occluded_body_images,whole_body_images}/<pid>/), identities
# split 1:1 (seeded); query = occluded, gallery = whole body of the test identities.
# Reported (slides, protocol unstated): R1 76.2 / R5 84.8 / mAP 64.0 (MoS).
# Paper: MoS (Jia et al., AAAI 2021; thesis slides).
# Table row: P-ETHZ, MoS; target R1 76.2 / R5 84.8 / mAP 64.0 (protocol unstated).
# Deliberate differences: every one is listed in the header of ./_base_/mos_r50.py.
_base_ = ['../_base_/datasets/p_ethz.py', './_base_/mos_r50.py']
val_evaluator = dict(_delete_=True, **_base_.mos_metric)
test_evaluator = val_evaluator
