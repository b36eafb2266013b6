# SAP on Market-1501 (holistic): python tools/train.py configs/sap/market1501.py
# Needs data/market1501, the ImageNet ViT-B/16 weights at vit_checkpoint and the teacher masks
# under data/market1501/part_masks/bounding_box_train/ (Pascal-Person-Part PNGs, same stems).
# Reported (thesis): 90.5 mAP / 96.0 R1.
# Paper: SAP (the thesis' SAP chapter).
# Table row: Market-1501, SAP (ViT-B/16); target mAP 90.5 / R1 96.0.
# Deliberate differences: every one is listed in the header of ./_base_/sap_vit_b.py.
_base_ = ['../_base_/datasets/market1501.py', './_base_/sap_vit_b.py']
data_root = 'data/market1501'
mask_root = 'data/market1501/part_masks'
teacher = dict(_base_.teacher, mask_root=mask_root)
train_dataloader = dict(dataset=dict(pipeline=[dict(t, teacher=teacher) if 'teacher' in t else t
                                               for t in _base_.sap_train_pipeline]))
val_dataloader = test_dataloader = _base_.sap_val_dataloader
val_evaluator = test_evaluator = _base_.sap_evaluator
custom_hooks = [dict(type='PortableCheckpointHook'), dict(_base_.sap_hook, preflight=[
    dict(path=data_root, kind='dir', field='data_root',
         what='Market-1501 (bounding_box_train, query, bounding_box_test)'),
    _base_.vit_preflight,
    dict(path=f'{mask_root}/bounding_box_train', kind='dir', field='mask_root',
         what='teacher part masks (Pascal-Person-Part PNGs, same stems as the images), or '
              'switch the teacher to RuleTeacher')])]
