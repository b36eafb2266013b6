# SYSU-MM01 (Wu et al. 2017), real images under data/SYSU-MM01 (layout: SYSUMM01's docstring).
# Training: train + val ids (395), both modalities. Test: infrared queries (cams 3, 6) against
# the visible all-search gallery pool; SYSUMetric samples multi-shot galleries (10 images per
# (pid, camera)), 10 trials, as SIM's released results.
_base_ = ['./visible_infrared.py']
data = dict(type='SYSUMM01', data_root='data/SYSU-MM01')
train_dataloader = dict(dataset=data)
val_dataloader = dict(dataset=dict(query=data, gallery=dict(data, search_mode='all')))
test_dataloader = val_dataloader
# Official galleries: add perm_file='data/SYSU-MM01/exp/rand_perm_cam.mat' when you have it.
val_evaluator = dict(_delete_=True, type='SYSUMetric', mode='all', shots=10, trials=10,
                     metric='euclidean', normalize_feature=True)
test_evaluator = val_evaluator
del data   # helpers, not config keys
