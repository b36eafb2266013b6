# SAP on MSMT17: python tools/train.py configs/sap/msmt17.py
# Needs data/msmt17 (MSMT17_V1 or V2 inside, or directly), the ImageNet ViT-B/16 weights at
# vit_checkpoint and the teacher masks under data/msmt17/part_masks/<id folder>/<stem>.png
# (Pascal-Person-Part PNGs; the default path mapping keeps the image's folder name).
# Reported (thesis): 67.8 mAP / 85.7 R1.
# Paper: SAP (the thesis' SAP chapter).
# Table row: MSMT17, SAP (ViT-B/16); target mAP 67.8 / R1 85.7.
# Deliberate differences: every one is listed in the header of ./_base_/sap_vit_b.py.
_base_ = ['../_base_/datasets/msmt17.py', './_base_/sap_vit_b.py']
mask_root = 'data/msmt17/part_masks'
teacher = dict(_base_.teacher, mask_root=mask_root)
train_dataloader = dict(dataset=dict(pipeline=[dict(t, teacher=teacher) if 'teacher' in t else t
                                               for t in _base_.sap_train_pipeline]))
val_dataloader = test_dataloader = _base_.sap_val_dataloader
val_evaluator = test_evaluator = _base_.sap_evaluator
custom_hooks = [dict(type='PortableCheckpointHook'), dict(_base_.sap_hook, preflight=[
    dict(path='data/msmt17', kind='dir', field='data_root',
         what='MSMT17 (train/, test/, list_*.txt)'),
    _base_.vit_preflight,
    dict(path=mask_root, kind='dir', field='mask_root',
         what='teacher part masks (Pascal-Person-Part PNGs mirroring train/<id>/<stem>), or '
              'switch the teacher to RuleTeacher')])]
