# ICFG-PEDES (Ding et al. 2021): 3,102 training identities; test 1,000 ids / 19,848 images, one
# caption each.
_base_ = ['./text_pedes.py']
data = dict(type='ICFGPEDES', data_root='data/ICFG-PEDES')
train_dataloader = dict(dataset=data)
val_dataloader = test_dataloader = dict(dataset=data)
del data   # helpers, not config keys
