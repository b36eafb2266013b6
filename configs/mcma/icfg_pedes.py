# MCMA on ICFG-PEDES (train 3,102 ids; test 1,000 ids / 19,848 images, one caption each).
# Slides: R1/R5/R10 61.21 / 77.08 / 82.98.
_base_ = ['./_base_/text_pedes.py']
data_root = 'data/ICFG-PEDES'
model = dict(num_classes=3102)
train_dataloader = dict(dataset=dict(type='ICFGPEDES', data_root=data_root))
val_dataloader = dict(dataset=dict(type='ICFGPEDES', data_root=data_root, test_split='test'))
test_dataloader = val_dataloader
