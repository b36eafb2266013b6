# SAP on Occluded-REID: trained on Market-1501 (Occluded-REID is test-only), tested with the
# Occluded-REID occluded queries against its whole-body gallery.
#   python tools/train.py configs/sap/occluded_reid.py
# Needs: data/market1501 (Market-1501-v15.09.15 inside or directly), data/Occluded_REID
# ({occluded_body_images, whole_body_images}), the ImageNet ViT-B/16 weights at vit_checkpoint,
# and the teacher masks of the Market-1501 training images under
# data/market1501/part_masks/bounding_box_train/ (Pascal-Person-Part PNGs).
# Reported (thesis): 76.8 mAP / 83.0 R1.
_base_ = ['./_base_/sap_vit_b.py']

train_root = 'data/market1501'
test_root = 'data/Occluded_REID'
vit_checkpoint = 'pretrained/jx_vit_base_p16_224-80ecf9dd.pth'
mask_root = 'data/market1501/part_masks'
teacher = dict(type='PrecomputedMaskTeacher', mask_root=mask_root,
               label_set='pascal_person_part', suffix='.png')

model = dict(num_classes=751,
             backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=vit_checkpoint)))
train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='LoadTeacherPartMask', teacher=teacher),
    dict(type='Resize', scale=(128, 256), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PadRandomCrop', padding=10),
    dict(type='RandomErasing', prob=0.5, fill=(127.5, 127.5, 127.5)),
    dict(type='PackReIDInputs'),
]
train_dataloader = dict(dataset=dict(type='Market1501', data_root=train_root, split='train',
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    type='QueryGalleryDataset',
    query=dict(type='OccludedREID', data_root=test_root, split='query',
               pipeline={{_base_.test_pipeline}}),
    gallery=dict(type='OccludedREID', data_root=test_root, split='gallery',
                 pipeline={{_base_.test_pipeline}})))
test_dataloader = val_dataloader
custom_hooks = [dict(
    type='TeacherDistillationHook', teacher=dict(type='SampleMaskTeacher'),
    preflight=[
        dict(path=train_root, kind='dir', field='train_root (train_dataloader.dataset.data_root)',
             what='Market-1501 (training set of the Occluded-REID protocol)'),
        dict(path=test_root, kind='dir', field='test_root (val_dataloader.dataset.*.data_root)',
             what='Occluded-REID: {occluded_body_images, whole_body_images}/<pid>/*.tif'),
        dict(path=vit_checkpoint, kind='file',
             field='vit_checkpoint (model.backbone.init_cfg.checkpoint)',
             what='ImageNet ViT-B/16 weights (timm or torchvision state_dict)'),
        dict(path=f'{mask_root}/bounding_box_train', kind='dir', field='mask_root',
             what='teacher part masks of the Market-1501 training images (Pascal-Person-Part '
                  'PNGs, same stems), or switch the teacher to RuleTeacher'),
    ])]
