# CPU schedule of the synthetic infrared twins: cpu_short.py (Adam 1e-3, 2 warm-up epochs, then
# cosine) stretched to 40 epochs (21 iterations of 64 images per epoch). Cross-modality matching
# is learnt from scratch, so it needs more epochs than the holistic twin's 15.
_base_ = ['../../_base_/schedules/cpu_short.py']
param_scheduler = [_base_.param_scheduler[0], dict(_base_.param_scheduler[1], end=40)]
train_cfg = dict(max_epochs=40, val_interval=10)
