# SAP on Occluded-REID: trained on Market-1501 (Occluded-REID is test-only), tested with the
# Occluded-REID occluded queries against its whole-body gallery.
#   python tools/train.py configs/sap/occluded_reid.py
# Needs: data/market1501 (Market-1501-v15.09.15 inside or directly), data/Occluded_REID
# ({occluded_body_images, whole_body_images}), the ImageNet ViT-B/16 weights at vit_checkpoint,
# and the teacher masks of the Market-1501 training images under
# data/market1501/part_masks/bounding_box_train/ (Pascal-Person-Part PNGs).
# Reported (thesis): 76.8 mAP / 83.0 R1.
# Paper: SAP (the thesis' SAP chapter).
# Table row: Occluded-REID, SAP (trained on Market-1501); target mAP 76.8 / R1 83.0.
# Deliberate differences: every one is listed in the header of ./_base_/sap_vit_b.py.
_base_ = ['./market1501.py']
train_root, test_root = 'data/market1501', 'data/Occluded_REID'
test_set = dict(type='OccludedREID', data_root=test_root)
val_dataloader = test_dataloader = dict(dataset=dict(query=test_set, gallery=test_set))
custom_hooks = [dict(type='PortableCheckpointHook'), dict(_base_.sap_hook, preflight=[
    dict(path=train_root, kind='dir', field='train_root (train_dataloader.dataset.data_root)',
         what='Market-1501 (training set of the Occluded-REID protocol)'),
    dict(path=test_root, kind='dir', field='test_root (val_dataloader.dataset.*.data_root)',
         what='Occluded-REID: {occluded_body_images, whole_body_images}/<pid>/*.tif'),
    _base_.vit_preflight,
    dict(path=f'{_base_.mask_root}/bounding_box_train', kind='dir', field='mask_root',
         what='teacher part masks of the Market-1501 training images (Pascal-Person-Part '
              'PNGs, same stems), or switch the teacher to RuleTeacher')])]
del test_set   # helpers, not config keys
