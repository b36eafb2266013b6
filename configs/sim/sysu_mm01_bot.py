# The base model of SIM's released code on SYSU-MM01: a BoT-style single-stream ResNet-50 (last
# stride 1, GAP, BNNeck, ID loss with label smoothing + batch-hard triplet, margin 0.3), batches of
# 16 identities x (4 visible + 4 infrared), Adam 3.5e-4, 200 epochs, x0.1 at epoch 150, 256x128.
# Evaluated with and without SIM (official mode, released SYSU-MM01 hyper-parameters; 'sim/' keys).
#   python tools/train.py configs/sim/sysu_mm01_bot.py
# ImageNet weights: a local torchvision resnet50 state_dict (nothing is downloaded).
_base_ = ['../_base_/datasets/sysu_mm01.py', '../_base_/models/bot_resnet50.py',
          '../_base_/schedules/bot_adam.py', '_base_/sim_rerank.py']
num_ids_per_batch = 16
batch_size = num_ids_per_batch * 2 * _base_.num_instances  # 128
train_dataloader = dict(batch_size=batch_size, sampler=dict(batch_size=batch_size))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[150], gamma=0.1)]
train_cfg = dict(max_epochs=200, val_interval=20)
auto_scale_lr = dict(base_batch_size=128)
