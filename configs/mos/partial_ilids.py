# MoS trained on Market-1501, tested on Partial-iLIDS (see partial_reid.py).
#   python tools/train.py configs/mos/partial_ilids.py
#   python tools/test.py configs/mos/partial_ilids.py CHECKPOINT   (a partial_reid.py run)
# Data: data/market1501, data/partial_ilids. Report R1 and R3.
_base_ = ['./market1501.py']
partial_root = 'data/partial_ilids'
val_dataloader = dict(dataset=dict(
    _delete_=True, type='QueryGalleryDataset',
    query=dict(type='PartialILIDS', data_root=partial_root, split='query',
               pipeline={{_base_.test_pipeline}}),
    gallery=dict(type='PartialILIDS', data_root=partial_root, split='gallery',
                 pipeline={{_base_.test_pipeline}})))
test_dataloader = val_dataloader
val_evaluator = dict(ranks=(1, 3, 5, 10))
test_evaluator = val_evaluator
