# MSMT17 (Wei et al. 2018): 1,041 training identities, under data/msmt17 (MSMT17_V1 or V2
# inside, or directly: train/, test/, list_*.txt).
_base_ = ['./reid_256x128.py']
data = dict(type='MSMT17', data_root='data/msmt17')
train_dataloader = dict(dataset=data)
val_dataloader = test_dataloader = dict(dataset=dict(query=data, gallery=data))
del data   # helpers, not config keys
