# DukeMTMC-reID (Zheng et al. 2017): 702 training identities, under data/dukemtmcreid
# (DukeMTMC-reID/{bounding_box_train,query,bounding_box_test}).
_base_ = ['./reid_256x128.py']
data = dict(type='DukeMTMCReID', data_root='data/dukemtmcreid')
train_dataloader = dict(dataset=data)
val_dataloader = test_dataloader = dict(dataset=dict(query=data, gallery=data))
del data   # helpers, not config keys
