# The BoT CPU twin of configs/sim/synthetic_ir_bot.py (same SmallReIDNet model, 128x64 images,
# grey-half augmentation and schedule) trained and tested on the synthetic infrared world written
# in the SYSU-MM01 layout, evaluated with SYSU-MM01's protocol: multi-shot (10 images per
# (identity, camera)) all-search, mean of 10 random galleries. One run logs the base model and
# four SIM rows (official mode, released SYSU-MM01 values): 'sim/' (graph + mutual-NN),
# 'sim_graph/' (graph inference only), 'sim_mutual/' (mutual-NN inference only) and 'sim_f16/'
# (SIM on float16 distances, as the released eval_sysu.py); docs/sim.md.
# Write the data first (the gallery pool has 40-48 visible images per test identity, so a
# 10-shot gallery holds ~30 per identity as in SYSU-MM01; training is the infrared world's):
#   python tools/make_synthetic.py --layout sysu_mm01 --out data/synthetic --img-size 128 64 \
#       --gallery-imgs-per-id 40 48
#   python tools/train.py configs/sim/synthetic_sysu_bot.py --epochs 25
_base_ = ['../_base_/datasets/sysu_mm01.py', '../_base_/models/bot_small.py',
          '_base_/synthetic_ir_schedule.py', '_base_/sim_rerank.py']
data_root = 'data/synthetic/SYSU-MM01'
img_h, img_w = 128, 64
num_workers = 2
# As configs/_base_/datasets/synthetic_ir.py: grey visible images half of the time, pad 8.
grayscale = dict(type='RandomGrayscale', prob=0.5, keep_channels=True, color_format='rgb')
train_pipeline = [s for t in _base_.train_pipeline for s in (
    [dict(t, scale=(img_w, img_h)), grayscale] if t.type == 'Resize' else
    [dict(t, padding=8)] if t.type == 'PadRandomCrop' else [t])]
test_pipeline = [dict(t, scale=(img_w, img_h)) if t.type == 'Resize' else t
                 for t in _base_.test_pipeline]
train_dataloader = dict(num_workers=num_workers,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=num_workers, dataset=dict(
    query=dict(data_root=data_root, pipeline=test_pipeline),
    gallery=dict(data_root=data_root, pipeline=test_pipeline)))
test_dataloader = val_dataloader
_sim = dict(type='SIMRerankHook', mode='official', preset='sysu_mm01')
custom_hooks = [
    dict(type='PortableCheckpointHook'),
    _sim,
    dict(_sim, components='graph', prefix='sim_graph'),
    dict(_sim, components='mutual', prefix='sim_mutual'),
    dict(_sim, input_dtype='float16', prefix='sim_f16'),
]
default_hooks = dict(logger=dict(interval=10))
del grayscale, _sim   # helpers, not config keys
