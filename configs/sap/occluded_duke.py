# SAP on Occluded-Duke, the paper recipe: python tools/train.py configs/sap/occluded_duke.py
#
# Needs three things (the first run says which are missing, and where they go):
#   1. data_root: Occluded-Duke unpacked so that data/occluded_duke/Occluded_Duke/
#      {bounding_box_train, query, bounding_box_test} exist (the same root as MoS's configs);
#   2. vit_checkpoint: ImageNet ViT-B/16 weights, a timm or torchvision state_dict saved with
#      torch.save (model.backbone.init_cfg.checkpoint);
#   3. mask_root: the teacher's part masks, one PNG per training image with the image's stem,
#      under data/occluded_duke/Occluded_Duke/part_masks/bounding_box_train/, in the Pascal-Person-Part label
#      set (0 bg, 1 head, 2 torso, 3 upper arms, 4 lower arms, 5 upper legs, 6 lower legs), e.g.
#      written by a human parser (SCHP) trained on Pascal-Person-Part, the thesis' best teacher.
#      Other teachers: see `teacher` in ./_base_/sap_vit_b.py.
# Reported (thesis): 62.2 mAP / 70.0 R1.
# Paper: SAP (the thesis' SAP chapter).
# Table row: Occluded-Duke, SAP (ViT-B/16); target mAP 62.2 / R1 70.0.
# Deliberate differences: every one is listed in the header of ./_base_/sap_vit_b.py.
_base_ = ['../_base_/datasets/occluded_duke.py', './_base_/sap_vit_b.py']
data_root = 'data/occluded_duke'            # the parent of the release folder, as MoS
release = f'{data_root}/Occluded_Duke'      # the dataset finds it under data_root
mask_root = f'{release}/part_masks'
teacher = dict(_base_.teacher, mask_root=mask_root)
train_dataloader = dict(dataset=dict(
    data_root=data_root, pipeline=[dict(t, teacher=teacher) if 'teacher' in t else t
                                   for t in _base_.sap_train_pipeline]))
val_dataloader = test_dataloader = dict(_base_.sap_val_dataloader, dataset=dict(
    query=dict(data_root=data_root, pipeline=_base_.sap_test_pipeline),
    gallery=dict(data_root=data_root, pipeline=_base_.sap_test_pipeline)))
val_evaluator = test_evaluator = _base_.sap_evaluator
custom_hooks = [dict(type='PortableCheckpointHook'), dict(_base_.sap_hook, preflight=[
    dict(path=f'{release}/bounding_box_train', kind='dir',
         field='data_root (train_dataloader.dataset.data_root)',
         what='Occluded-Duke: unpack it so that data/occluded_duke/Occluded_Duke/'
              '{bounding_box_train, query, bounding_box_test} exist'),
    dict(path=f'{release}/query', kind='dir', field='data_root',
         what='Occluded-Duke query images'),
    dict(_base_.vit_preflight,
         what='ImageNet ViT-B/16 weights: a timm (vit_base_patch16_224) or torchvision '
              '(vit_b_16) state_dict saved with torch.save'),
    dict(path=f'{mask_root}/bounding_box_train', kind='dir',
         field='mask_root (the PrecomputedMaskTeacher in train_pipeline)',
         what='teacher part masks: one PNG per training image, same stem, '
              'Pascal-Person-Part labels (or switch the teacher to RuleTeacher)')])]
del release   # helper, not a config key
