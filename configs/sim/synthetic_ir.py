# CPU twin of configs/sim/sysu_mm01_agw.py on the synthetic infrared preset (minutes on 2 cores):
# AGW's recipe on a small two-stream network (one stem per modality, shared stages, non-local
# blocks after stages 2 and 3), GeM (p = 3), BNNeck, ID + weighted regularised triplet; batches of
# 8 identities x (4 visible + 4 infrared); evaluated with and without SIM ('sim/' keys).
#   python tools/train.py configs/sim/synthetic_ir.py
#   python tools/test.py configs/sim/synthetic_ir.py work_dirs/sim/synthetic_ir/epoch_40.pth \
#       --save-features work_dirs/sim/synthetic_ir/feats.npz
#   python tools/rerank.py work_dirs/sim/synthetic_ir/feats.npz            # infrared -> visible
#   python tools/rerank.py work_dirs/sim/synthetic_ir/feats.npz --swap     # visible -> infrared
_base_ = [
    '../_base_/datasets/synthetic_ir.py',
    '_base_/synthetic_ir_schedule.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='AGWModel',
    backbone=dict(type='TwoStreamSmallReIDNet', out_channels=256, stride=16,
                  non_local=(0, 1, 1), modalities=('visible', 'infrared')),
    neck=dict(type='GlobalPooling', pooling='gem', p=3.0, learn_p=False),
    head=dict(type='BNNeckHead', num_classes=100),  # the preset's 100 training identities
    losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.0),
                triplet=dict(type='WeightedRegularizedTriplet')),
    test_feature='after_bn',
)
default_hooks = dict(logger=dict(interval=10))
# asym_plugins.methods.sim registers SIMReranker, which SIMRerankHook builds.
custom_imports = dict(imports=['asym_plugins', 'asym_plugins.methods.sim'],
                      allow_failed_imports=False)
custom_hooks = [
    dict(type='PortableCheckpointHook'),
    dict(type='SIMRerankHook', mode='official', preset='sysu_mm01'),
]
