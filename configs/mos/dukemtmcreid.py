# MoS on DukeMTMC-reID (ResNet-50): python tools/train.py configs/mos/dukemtmcreid.py
# Data: data/dukemtmcreid (DukeMTMC-reID/{bounding_box_train,query,bounding_box_test}).
# Reported (slides): R1 88.7 / mAP 77.0 (MoS), 90.6 / 80.2 (MoS_wIBN: dukemtmcreid_wibn.py).
_base_ = ['./_base_/mos_r50.py']
data_root = 'data/dukemtmcreid'
model = dict(head=dict(num_classes=702))
train_dataloader = dict(dataset=dict(type='DukeMTMCReID', data_root=data_root))
val_dataloader = dict(dataset=dict(query=dict(type='DukeMTMCReID', data_root=data_root),
                                   gallery=dict(type='DukeMTMCReID', data_root=data_root)))
test_dataloader = val_dataloader
