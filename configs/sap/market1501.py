# SAP on Market-1501 (holistic): python tools/train.py configs/sap/market1501.py
# Needs data/market1501, the ImageNet ViT-B/16 weights at vit_checkpoint and the teacher masks
# under data/market1501/part_masks/bounding_box_train/ (Pascal-Person-Part PNGs, same stems).
# Reported (thesis): 90.5 mAP / 96.0 R1.
_base_ = ['./_base_/sap_vit_b.py']

data_root = 'data/market1501'
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
train_dataloader = dict(dataset=dict(type='Market1501', data_root=data_root, split='train',
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    type='QueryGalleryDataset',
    query=dict(type='Market1501', data_root=data_root, split='query',
               pipeline={{_base_.test_pipeline}}),
    gallery=dict(type='Market1501', data_root=data_root, split='gallery',
                 pipeline={{_base_.test_pipeline}})))
test_dataloader = val_dataloader
custom_hooks = [dict(
    type='TeacherDistillationHook', teacher=dict(type='SampleMaskTeacher'),
    preflight=[
        dict(path=data_root, kind='dir', field='data_root',
             what='Market-1501 (bounding_box_train, query, bounding_box_test)'),
        dict(path=vit_checkpoint, kind='file',
             field='vit_checkpoint (model.backbone.init_cfg.checkpoint)',
             what='ImageNet ViT-B/16 weights (timm or torchvision state_dict)'),
        dict(path=f'{mask_root}/bounding_box_train', kind='dir', field='mask_root',
             what='teacher part masks (Pascal-Person-Part PNGs, same stems as the images), or '
                  'switch the teacher to RuleTeacher'),
    ])]
