# MoS on P-DukeMTMC-reID (ResNet-50): python tools/train.py configs/mos/p_dukemtmc.py
# Data: data/p_dukemtmc (P-DukeMTMC-reID/{train,test}/{occluded,whole}_body_images/<pid>/).
# Train on both kinds of training images; query = occluded, gallery = whole body.
# Paper: MoS (Jia et al., AAAI 2021; thesis slides).
# Table row: P-DukeMTMC-reID, MoS; target no number recorded in this repository.
# Deliberate differences: every one is listed in the header of ./_base_/mos_r50.py.
_base_ = ['../_base_/datasets/p_dukemtmc.py', './_base_/mos_r50.py']
val_evaluator = dict(_delete_=True, **_base_.mos_metric)
test_evaluator = val_evaluator
