# AGW on SYSU-MM01 (all-search, multi-shot, 10 trials), evaluated with and without SIM (official
# mode, the released SYSU-MM01 hyper-parameters); SIM's keys are logged with the prefix 'sim/'.
#   python tools/train.py configs/sim/sysu_mm01_agw.py
#   python tools/test.py configs/sim/sysu_mm01_agw.py work_dirs/sim/sysu_mm01_agw/epoch_60.pth
_base_ = [
    '../_base_/datasets/sysu_mm01.py',
    '_base_/agw_r50.py',
    '../_base_/default_runtime.py',
]
# AGW trains at 288x144 with 8 identities x (4 visible + 4 infrared) per batch.
img_h, img_w = 288, 144
train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=(img_w, img_h), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PadRandomCrop', padding=10),
    dict(type='RandomErasing', prob=0.5),
    dict(type='PackReIDInputs'),
]
test_pipeline = [
    dict(type='LoadReIDImage', skip_undecodable=False),
    dict(type='Resize', scale=(img_w, img_h), keep_ratio=False),
    dict(type='PackReIDInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(query=dict(pipeline=test_pipeline),
                                   gallery=dict(pipeline=test_pipeline)))
test_dataloader = val_dataloader
model = dict(head=dict(num_classes=395))  # SYSU-MM01 train + val identities
# asym_plugins.methods.sim registers SIMReranker, which SIMRerankHook builds.
custom_imports = dict(imports=['asym_plugins', 'asym_plugins.methods.sim'],
                      allow_failed_imports=False)
custom_hooks = [
    dict(type='PortableCheckpointHook'),
    dict(type='SIMRerankHook', mode='official', preset='sysu_mm01'),
]
