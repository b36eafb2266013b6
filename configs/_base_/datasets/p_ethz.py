# P-ETHZ (Zhuo et al. 2018): 85 identities with occluded and whole-body images, under
# data/p_ethz (P_ETHZ/{occluded_body_images,whole_body_images}/<pid>/). The thesis' protocol:
# identities split 1:1 by a seeded shuffle (id_split=True; 42 train / 43 test identities),
# query = occluded, gallery = whole body of the test identities.
_base_ = ['./reid_256x128.py']
data = dict(type='PETHZ', data_root='data/p_ethz', id_split=True, split_seed=0)
train_dataloader = dict(dataset=data)
val_dataloader = test_dataloader = dict(dataset=dict(query=data, gallery=data))
del data   # helpers, not config keys
