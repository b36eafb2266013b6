# P-DukeMTMC-reID (Zhuo et al. 2019): 665 training identities, under data/p_dukemtmc
# (P-DukeMTMC-reID/{train,test}/{occluded,whole}_body_images/<pid>/). Training uses both kinds
# of images; query = occluded, gallery = whole body.
_base_ = ['./reid_256x128.py']
data = dict(type='PDukeMTMCReID', data_root='data/p_dukemtmc')
train_dataloader = dict(dataset=data)
val_dataloader = test_dataloader = dict(dataset=dict(query=data, gallery=data))
del data   # helpers, not config keys
