# SAP on MSMT17: python tools/train.py configs/sap/msmt17.py
# Needs data/msmt17 (MSMT17_V1 or V2 inside, or directly), the ImageNet ViT-B/16 weights at
# vit_checkpoint and the teacher masks under data/msmt17/part_masks/<id folder>/<stem>.png
# (Pascal-Person-Part PNGs; the default path mapping keeps the image's folder name).
# Reported (thesis): 67.8 mAP / 85.7 R1.
_base_ = ['./_base_/sap_vit_b.py']

data_root = 'data/msmt17'
vit_checkpoint = 'pretrained/jx_vit_base_p16_224-80ecf9dd.pth'
mask_root = 'data/msmt17/part_masks'
teacher = dict(type='PrecomputedMaskTeacher', mask_root=mask_root,
               label_set='pascal_person_part', suffix='.png')

model = dict(num_classes=1041,
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
train_dataloader = dict(dataset=dict(type='MSMT17', data_root=data_root, split='train',
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    type='QueryGalleryDataset',
    query=dict(type='MSMT17', data_root=data_root, split='query',
               pipeline={{_base_.test_pipeline}}),
    gallery=dict(type='MSMT17', data_root=data_root, split='gallery',
                 pipeline={{_base_.test_pipeline}})))
test_dataloader = val_dataloader
custom_hooks = [dict(
    type='TeacherDistillationHook', teacher=dict(type='SampleMaskTeacher'),
    preflight=[
        dict(path=data_root, kind='dir', field='data_root',
             what='MSMT17 (train/, test/, list_*.txt)'),
        dict(path=vit_checkpoint, kind='file',
             field='vit_checkpoint (model.backbone.init_cfg.checkpoint)',
             what='ImageNet ViT-B/16 weights (timm or torchvision state_dict)'),
        dict(path=mask_root, kind='dir', field='mask_root',
             what='teacher part masks (Pascal-Person-Part PNGs mirroring train/<id>/<stem>), or '
                  'switch the teacher to RuleTeacher'),
    ])]
