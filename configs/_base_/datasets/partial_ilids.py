# Partial-iLIDS (Zheng et al. 2015), test-only: trained on Market-1501, tested on
# data/partial_ilids (Partial_iLIDS/{Probe,Gallery}). Report R1 and R3.
_base_ = ['./market1501.py']
test_set = dict(type='PartialILIDS', data_root='data/partial_ilids')
val_dataloader = test_dataloader = dict(dataset=dict(query=test_set, gallery=test_set))
val_evaluator = test_evaluator = dict(ranks=(1, 3, 5, 10))
del test_set   # helpers, not config keys
