# MCMA on RSTPReid (train 3,701 ids; test 200 ids / 1,000 images / 2,000 captions).
# Slides: R1/R5/R10 53.80 / 74.75 / 83.00.
_base_ = ['./_base_/text_pedes.py']
data_root = 'data/RSTPReid'
model = dict(num_classes=3701)
train_dataloader = dict(dataset=dict(type='RSTPReid', data_root=data_root))
val_dataloader = dict(dataset=dict(type='RSTPReid', data_root=data_root, test_split='test'))
test_dataloader = val_dataloader
