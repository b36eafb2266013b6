# Partial-REID (Zheng et al. 2015), test-only: the literature trains on Market-1501 and tests
# on the partial queries against the whole-body gallery. Data: data/market1501 and
# data/partial_reid (Partial-REID_Dataset/{partial,whole}_body_images). Report R1 and R3.
_base_ = ['./market1501.py']
test_set = dict(type='PartialREID', data_root='data/partial_reid')
val_dataloader = test_dataloader = dict(dataset=dict(query=test_set, gallery=test_set))
val_evaluator = test_evaluator = dict(ranks=(1, 3, 5, 10))
del test_set   # helpers, not config keys
