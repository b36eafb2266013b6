# MoS on P-DukeMTMC-reID (ResNet-50): python tools/train.py configs/mos/p_dukemtmc.py
# Data: data/p_dukemtmc (P-DukeMTMC-reID/{train,test}/{occluded,whole}_body_images/<pid>/).
# Train on both kinds of training images; query = occluded, gallery = whole body.
_base_ = ['./_base_/mos_r50.py']
data_root = 'data/p_dukemtmc'
model = dict(head=dict(num_classes=665))
train_dataloader = dict(dataset=dict(type='PDukeMTMCReID', data_root=data_root))
val_dataloader = dict(dataset=dict(query=dict(type='PDukeMTMCReID', data_root=data_root),
                                   gallery=dict(type='PDukeMTMCReID', data_root=data_root)))
test_dataloader = val_dataloader
