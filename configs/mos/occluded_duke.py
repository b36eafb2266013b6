# MoS on Occluded-Duke (ResNet-50): python tools/train.py configs/mos/occluded_duke.py
# Data: data/occluded_duke (Occluded_Duke/{bounding_box_train,query,bounding_box_test}).
# Reported (slides): R1 61.0 / mAP 49.2 (MoS), 66.6 / 55.1 (MoS_wIBN: occluded_duke_wibn.py).
# CPU twin: configs/mos/synthetic_occluded.py.
_base_ = ['./_base_/mos_r50.py']
data_root = 'data/occluded_duke'
model = dict(head=dict(num_classes=702))
train_dataloader = dict(dataset=dict(type='OccludedDuke', data_root=data_root))
val_dataloader = dict(dataset=dict(query=dict(type='OccludedDuke', data_root=data_root),
                                   gallery=dict(type='OccludedDuke', data_root=data_root)))
test_dataloader = val_dataloader
