# Occluded-REID (Zhuo et al. 2018), test-only: trained on Market-1501, tested with the
# occluded queries against the whole-body gallery of data/Occluded_REID
# ({occluded_body_images, whole_body_images}/<pid>/*.tif).
_base_ = ['./market1501.py']
test_set = dict(type='OccludedREID', data_root='data/Occluded_REID')
val_dataloader = test_dataloader = dict(dataset=dict(query=test_set, gallery=test_set))
del test_set   # helpers, not config keys
