# AGW on RegDB (trial 1; see configs/_base_/datasets/regdb.py for the other trials), both
# directions, evaluated with and without SIM (official mode, the released RegDB
# hyper-parameters); SIM's keys are logged with the prefix 'sim/'.
#   python tools/train.py configs/sim/regdb_agw.py
_base_ = [
    '../_base_/datasets/regdb.py',
    '_base_/agw_r50.py',
    '../_base_/default_runtime.py',
]
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
model = dict(head=dict(num_classes=206))  # the 206 training identities of a RegDB trial
# asym_plugins.methods.sim registers SIMReranker, which SIMRerankHook builds.
custom_imports = dict(imports=['asym_plugins', 'asym_plugins.methods.sim'],
                      allow_failed_imports=False)
custom_hooks = [
    dict(type='PortableCheckpointHook'),
    dict(type='SIMRerankHook', mode='official', preset='regdb'),
]
