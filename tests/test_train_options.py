"""tools/train.py options: --epochs scales the schedule as worked out by hand; default work dirs."""
import pytest
from mmengine.config import Config

from asym_plugins.engine import scale_epochs


def _cfg():
    return Config(dict(
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=40, val_interval=10),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2),
            dict(type='CosineAnnealingLR', by_epoch=True, begin=2, end=40, eta_min=1e-5),
            dict(type='MultiStepLR', by_epoch=True, begin=0, end=40, milestones=[20, 30]),
            dict(type='LinearLR', by_epoch=False, begin=0, end=500)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=5))))


def test_scale_to_ten_epochs():
    cfg = scale_epochs(_cfg(), 10)                 # factor 1/4
    assert cfg.train_cfg.max_epochs == 10 and cfg.train_cfg.val_interval == 2   # 10/4 -> 2
    lin, cos, step, it = cfg.param_scheduler
    assert (lin.begin, lin.end) == (0, 1)          # 2/4 = 0.5 -> at least one epoch
    assert (cos.begin, cos.end) == (1, 10)         # adjacent to the warm-up
    assert step.milestones == [5, 8] and step.end == 10   # 7.5 rounds to 8 (half to even)
    assert (it.begin, it.end) == (0, 500)          # iteration-based: untouched
    assert cfg.default_hooks.checkpoint.interval == 1      # 5/4 -> 1


def test_one_epoch_drops_schedulers_that_would_start_after_it():
    cfg = scale_epochs(_cfg(), 1)
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR', 'MultiStepLR', 'LinearLR']
    assert cfg.param_scheduler[0].end == 1 and cfg.train_cfg.val_interval == 1


def test_stretch_and_errors():
    cfg = scale_epochs(_cfg(), 80)
    assert cfg.param_scheduler[1].end == 80 and cfg.param_scheduler[2].milestones == [40, 60]
    with pytest.raises(ValueError, match='epoch-based train loop'):
        scale_epochs(Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=9))), 3)
    with pytest.raises(ValueError, match='>= 1'):
        scale_epochs(_cfg(), 0)


def test_default_work_dir_keeps_methods_apart():
    from asym_plugins.engine.launch import default_work_dir
    assert default_work_dir('configs/mos/synthetic_occluded.py') == \
        './work_dirs/mos/synthetic_occluded'
    assert default_work_dir('/x/configs/sap/synthetic_occluded.py') == \
        './work_dirs/sap/synthetic_occluded'
    assert default_work_dir('/x/configs/mcma/ablation/synthetic_self.py') == \
        './work_dirs/mcma/ablation/synthetic_self'
    assert default_work_dir('/elsewhere/my_exp.py') == './work_dirs/my_exp'
