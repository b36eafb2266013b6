# RSTPReid (Zhu et al. 2021): 3,701 training identities; test 200 ids / 1,000 images / 2,000
# captions.
_base_ = ['./text_pedes.py']
data = dict(type='RSTPReid', data_root='data/RSTPReid')
train_dataloader = dict(dataset=data)
val_dataloader = test_dataloader = dict(dataset=data)
del data   # helpers, not config keys
