# RegDB (Nguyen et al. 2017), visible <-> thermal, real images under data/RegDB (layout: RegDB's
# docstring), trial 1. The protocol trains and tests one model per trial (1..10) and averages:
# change every `trial=1`, e.g. --cfg-options train_dataloader.dataset.trial=3
# val_dataloader.dataset.query.trial=3 val_dataloader.dataset.gallery.trial=3
# test_dataloader.dataset.query.trial=3 test_dataloader.dataset.gallery.trial=3
# RegDBMetric scores both directions (v2t_*, t2v_*).
_base_ = ['./visible_infrared.py']
data = dict(type='RegDB', data_root='data/RegDB', trial=1)
test_set = dict(data, mode='visible_to_thermal')
train_dataloader = dict(dataset=data)
val_dataloader = test_dataloader = dict(dataset=dict(query=test_set, gallery=test_set))
val_evaluator = dict(_delete_=True, type='RegDBMetric', metric='euclidean',
                     normalize_feature=True)
test_evaluator = val_evaluator
del data, test_set   # helpers, not config keys
