# SAP on Occluded-Duke, the paper recipe: python tools/train.py configs/sap/occluded_duke.py
#
# Needs three things (the first run says which are missing, and where they go):
#   1. data_root: Occluded-Duke unpacked so that data/Occluded_Duke/{bounding_box_train, query,
#      bounding_box_test} exist;
#   2. vit_checkpoint: ImageNet ViT-B/16 weights, a timm or torchvision state_dict saved with
#      torch.save (model.backbone.init_cfg.checkpoint);
#   3. mask_root: the teacher's part masks, one PNG per training image with the image's stem,
#      under data/Occluded_Duke/part_masks/bounding_box_train/, in the Pascal-Person-Part label
#      set (0 bg, 1 head, 2 torso, 3 upper arms, 4 lower arms, 5 upper legs, 6 lower legs), e.g.
#      written by a human parser (SCHP) trained on Pascal-Person-Part, the thesis' best teacher.
#      Other teachers: set `teacher` below to dict(type='RuleTeacher') (no files needed), a
#      KeypointTeacher (COCO-17 json) or a ParserModelTeacher (TorchScript / ONNX file), and
#      label_set to 'lip' / 'atr' for parsers trained on those.
# Reported (thesis): 62.2 mAP / 70.0 R1.
_base_ = ['./_base_/sap_vit_b.py']

data_root = 'data/Occluded_Duke'
vit_checkpoint = 'pretrained/jx_vit_base_p16_224-80ecf9dd.pth'
mask_root = 'data/Occluded_Duke/part_masks'
teacher = dict(type='PrecomputedMaskTeacher', mask_root=mask_root,
               label_set='pascal_person_part', suffix='.png')

model = dict(num_classes=702,
             backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=vit_checkpoint)))

train_pipeline = [
    dict(type='LoadReIDImage'),
    # The teacher mask enters the pipeline here, so flip / pad-crop move it with the image.
    dict(type='LoadTeacherPartMask', teacher=teacher),
    dict(type='Resize', scale=(128, 256), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PadRandomCrop', padding=10),
    dict(type='RandomErasing', prob=0.5, fill=(127.5, 127.5, 127.5)),
    dict(type='PackReIDInputs'),
]
train_dataloader = dict(dataset=dict(type='OccludedDuke', data_root=data_root, split='train',
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    type='QueryGalleryDataset',
    query=dict(type='OccludedDuke', data_root=data_root, split='query',
               pipeline={{_base_.test_pipeline}}),
    gallery=dict(type='OccludedDuke', data_root=data_root, split='gallery',
                 pipeline={{_base_.test_pipeline}})))
test_dataloader = val_dataloader

custom_hooks = [dict(
    type='TeacherDistillationHook',
    teacher=dict(type='SampleMaskTeacher'),   # the mask LoadTeacherPartMask put in the sample
    preflight=[
        dict(path=f'{data_root}/bounding_box_train', kind='dir',
             field='data_root (train_dataloader.dataset.data_root)',
             what='Occluded-Duke: unpack it so that data/Occluded_Duke/{bounding_box_train, '
                  'query, bounding_box_test} exist'),
        dict(path=f'{data_root}/query', kind='dir', field='data_root',
             what='Occluded-Duke query images'),
        dict(path=vit_checkpoint, kind='file',
             field='vit_checkpoint (model.backbone.init_cfg.checkpoint)',
             what='ImageNet ViT-B/16 weights: a timm (vit_base_patch16_224) or torchvision '
                  '(vit_b_16) state_dict saved with torch.save'),
        dict(path=f'{mask_root}/bounding_box_train', kind='dir',
             field='mask_root (the PrecomputedMaskTeacher in train_pipeline)',
             what='teacher part masks: one PNG per training image, same stem, '
                  'Pascal-Person-Part labels (or switch the teacher to RuleTeacher)'),
    ])]
