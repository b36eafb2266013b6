# Market-1501 (Zheng et al. 2015): 751 training identities. Put the release under
# data/market1501 (data/market1501/Market-1501-v15.09.15/... or the three folders directly).
_base_ = ['./reid_256x128.py']
data = dict(type='Market1501', data_root='data/market1501')
train_dataloader = dict(dataset=data)
val_dataloader = test_dataloader = dict(dataset=dict(query=data, gallery=data))
del data   # helpers, not config keys
