# Occluded-Duke (Miao et al. 2019): 702 training identities, occluded queries, under
# data/occluded_duke (Occluded_Duke/{bounding_box_train,query,bounding_box_test}).
_base_ = ['./reid_256x128.py']
data = dict(type='OccludedDuke', data_root='data/occluded_duke')
train_dataloader = dict(dataset=data)
val_dataloader = test_dataloader = dict(dataset=dict(query=data, gallery=data))
del data   # helpers, not config keys
