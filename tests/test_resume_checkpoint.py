"""Resume on torch >= 2.6 (weights_only loading) and atomic checkpoint writes."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import asym_plugins  # noqa: F401
from asym_plugins.engine.checkpoint import AtomicLocalBackend
from asym_plugins.registry import HOOKS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


class _Killed(RuntimeError):
    pass


@HOOKS.register_module(force=True)
class _KillAfterEpoch(Hook):
    priority = 'LOWEST'  # after CheckpointHook has written the epoch's checkpoint

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch == self.epoch:
            raise _Killed(f'simulated kill after epoch {self.epoch}')


def _write_images(folder, n_ids=6, per_id=4):
    rng = np.random.RandomState(0)
    samples = []
    for p in range(n_ids):
        base = rng.rand(32, 16, 3) * 255
        for i in range(per_id):
            path = osp.join(folder, f'{p}_{i}.png')
            cv2.imwrite(path, np.clip(base + rng.randn(32, 16, 3) * 20, 0, 255).astype(np.uint8))
            samples.append(dict(img_path=path, pid=p, camid=i % 2))
    return samples


def _cfg(work_dir, samples, max_epochs=4, extra_hooks=()):
    pipeline = [dict(type='LoadReIDImage'), dict(type='PackReIDInputs')]
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/default_runtime.py'))
    cfg.merge_from_dict(dict(
        work_dir=str(work_dir),
        model=dict(type='ReIDBaseline', backbone=dict(type='SmallReIDNet', out_channels=32),
                   head=dict(num_classes=6)),
        train_dataloader=dict(
            batch_size=8, num_workers=0,
            sampler=dict(type='IdentitySampler', batch_size=8, num_instances=4, seed=1),
            dataset=dict(type='ReIDDataset', data_list=samples, split='train',
                         pipeline=pipeline)),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=1e-3)),
        param_scheduler=[dict(type='CosineAnnealingLR', by_epoch=True, T_max=max_epochs)],
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        visualizer=dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')]),
        randomness=dict(seed=0),
    ))
    cfg.custom_hooks = list(cfg.custom_hooks) + list(extra_hooks)
    return cfg


def _state(runner):
    return {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(tmp_path):
    torch.set_num_threads(1)
    samples = _write_images(str(tmp_path))
    ref = Runner.from_cfg(_cfg(tmp_path / 'ref', samples))
    ref.train()
    want = _state(ref)

    killed = Runner.from_cfg(_cfg(tmp_path / 'run', samples,
                                  extra_hooks=[dict(type='_KillAfterEpoch', epoch=2)]))
    with pytest.raises(_Killed):
        killed.train()
    assert osp.isfile(tmp_path / 'run' / 'epoch_2.pth')

    # torch >= 2.6 loads with weights_only=True by default: this is what used to fail.
    ckpt = torch.load(tmp_path / 'run' / 'epoch_2.pth', map_location='cpu')
    assert ckpt['meta']['epoch'] == 2

    cfg = _cfg(tmp_path / 'run', samples)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.epoch == 4
    got = _state(resumed)
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=1e-6, msg=k)


def test_getattr_stays_refused_by_weights_only_loading(tmp_path):
    # Our allow-list must not admit arbitrary callables: a pickle that reaches getattr fails.
    path = tmp_path / 'evil.pth'
    torch.save({'f': getattr}, path)
    with pytest.raises(Exception, match='getattr'):
        torch.load(path, weights_only=True)


def test_atomic_put_keeps_old_file_on_failure(tmp_path):
    backend = AtomicLocalBackend()
    target = tmp_path / 'ckpt' / 'epoch_1.pth'
    backend.put(b'old checkpoint', target)
    assert target.read_bytes() == b'old checkpoint'

    def failing_write(*a, **k):
        raise OSError('disk full (simulated kill mid-write)')

    import asym_plugins.engine.checkpoint as mod
    real_fsync = mod.os.fsync
    mod.os.fsync = failing_write
    try:
        with pytest.raises(OSError, match='disk full'):
            backend.put(b'new but never completed', target)
    finally:
        mod.os.fsync = real_fsync
    assert target.read_bytes() == b'old checkpoint'
    # no temp file left behind; the sidecar still holds the old file's sha256
    assert sorted(os.listdir(target.parent)) == ['epoch_1.pth', 'epoch_1.pth.sha256']
    import hashlib
    assert (target.parent / 'epoch_1.pth.sha256').read_text() == \
        hashlib.sha256(b'old checkpoint').hexdigest() + '  epoch_1.pth\n'
    backend.put_text('epoch_1.pth', tmp_path / 'ckpt' / 'last_checkpoint')
    assert (tmp_path / 'ckpt' / 'last_checkpoint').read_text() == 'epoch_1.pth'
