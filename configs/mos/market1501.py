# MoS on Market-1501 (ResNet-50): python tools/train.py configs/mos/market1501.py
# Data: data/market1501 (Market-1501-v15.09.15/{bounding_box_train,query,bounding_box_test}).
# Reported (slides): R1 94.7 / mAP 86.8 (MoS), 95.4 / 89.0 (MoS_wIBN: market1501_wibn.py).
_base_ = ['./_base_/mos_r50.py']
data_root = 'data/market1501'
model = dict(head=dict(num_classes=751))
train_dataloader = dict(dataset=dict(type='Market1501', data_root=data_root))
val_dataloader = dict(dataset=dict(query=dict(type='Market1501', data_root=data_root),
                                   gallery=dict(type='Market1501', data_root=data_root)))
test_dataloader = val_dataloader
