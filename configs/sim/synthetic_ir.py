# CPU twin of configs/sim/sysu_mm01_agw.py on the synthetic infrared preset (minutes on 2 cores):
# AGW's recipe on a small two-stream network (one stem per modality, shared stages, non-local
# blocks after stages 2 and 3), GeM (p = 3), BNNeck, ID + weighted regularised triplet; batches of
# 8 identities x (4 visible + 4 infrared); evaluated with and without SIM ('sim/' keys).
#   python tools/train.py configs/sim/synthetic_ir.py
#   python tools/test.py configs/sim/synthetic_ir.py work_dirs/sim/synthetic_ir/epoch_40.pth \
#       --save-features work_dirs/sim/synthetic_ir/feats.npz
#   python tools/rerank.py work_dirs/sim/synthetic_ir/feats.npz            # infrared -> visible
#   python tools/rerank.py work_dirs/sim/synthetic_ir/feats.npz --swap     # visible -> infrared
_base_ = ['./synthetic_ir_bot.py']
model = dict(
    type='AGWModel',
    backbone=dict(type='TwoStreamSmallReIDNet', non_local=(0, 1, 1),
                  modalities=('visible', 'infrared')),
    neck=dict(pooling='gem', p=3.0, learn_p=False),
    losses=dict(id=dict(epsilon=0.0),
                triplet=dict(_delete_=True, type='WeightedRegularizedTriplet')),
)
