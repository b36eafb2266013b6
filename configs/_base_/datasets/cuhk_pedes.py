# CUHK-PEDES (Li et al. 2017): 11,003 training identities; test 1,000 ids / 3,074 images / 6,156
# captions.
_base_ = ['./text_pedes.py']
data = dict(type='CUHKPEDES', data_root='data/CUHK-PEDES')
train_dataloader = dict(dataset=data)
val_dataloader = test_dataloader = dict(dataset=data)
del data   # helpers, not config keys
