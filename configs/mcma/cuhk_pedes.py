# MCMA on CUHK-PEDES (train 11,003 ids; test 1,000 ids / 3,074 images / 6,156 captions).
# Slides: R1/R5/R10 67.33 / 84.58 / 90.00.
#   python tools/train.py configs/mcma/cuhk_pedes.py --amp
_base_ = ['./_base_/text_pedes.py']
data_root = 'data/CUHK-PEDES'
model = dict(num_classes=11003)
train_dataloader = dict(dataset=dict(type='CUHKPEDES', data_root=data_root))
val_dataloader = dict(dataset=dict(type='CUHKPEDES', data_root=data_root, test_split='test'))
test_dataloader = val_dataloader
