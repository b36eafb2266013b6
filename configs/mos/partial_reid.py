# MoS for partial Re-ID as in the literature: train on Market-1501, test on Partial-REID
# (this file's val/test loader) and Partial-iLIDS (configs/mos/partial_ilids.py, the same
# training with the other test set; or evaluate a checkpoint of this run with
#   python tools/test.py configs/mos/partial_ilids.py work_dirs/mos/partial_reid/epoch_120.pth).
#   python tools/train.py configs/mos/partial_reid.py
# Data: data/market1501, data/partial_reid (Partial-REID_Dataset/{partial,whole}_body_images),
# data/partial_ilids (Partial_iLIDS/{Probe,Gallery}). Test-only sets: report R1 and R3.
# CPU twin: configs/mos/synthetic_partial.py.
_base_ = ['./market1501.py']
partial_root = 'data/partial_reid'
val_dataloader = dict(dataset=dict(
    _delete_=True, type='QueryGalleryDataset',
    query=dict(type='PartialREID', data_root=partial_root, split='query',
               pipeline={{_base_.test_pipeline}}),
    gallery=dict(type='PartialREID', data_root=partial_root, split='gallery',
                 pipeline={{_base_.test_pipeline}})))
test_dataloader = val_dataloader
val_evaluator = dict(ranks=(1, 3, 5, 10))
test_evaluator = val_evaluator
