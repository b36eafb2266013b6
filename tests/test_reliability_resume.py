"""Issue 21, items 1-3, 8, 11: work-dir lock, strict resume, robust last_checkpoint, checksums,
keep-last-N, stale temp files, permissions. Each test reproduces a defect seen before the fix.

The trainings run ``tools/train.py``'s ``main`` on a tiny config (6 identities of 16x32
images, SmallReIDNet, 1-2 epochs), so each takes seconds on one CPU thread.
"""
import hashlib
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner.checkpoint import _load_checkpoint

import asym_plugins  # noqa: F401
from asym_plugins.engine.checkpoint import (
    CheckpointFileError,
    CheckpointMismatchError,
    checkpoint_problem,
)
from asym_plugins.engine.cli import MissingInputError
from asym_plugins.engine.workdir import (
    LOCK_NAME,
    WorkDirLock,
    WorkDirLockedError,
    find_resume_checkpoint,
    remove_stale_tmp,
)
from asym_plugins.registry import HOOKS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _tool(name):
    spec = importlib.util.spec_from_file_location(f'reliability_{name}',
                                                  osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_tool = _tool('train')


class _Stop(RuntimeError):
    pass


@HOOKS.register_module(force=True)
class _ReliabilityFailSave(Hook):
    """Raise inside ``runner.save_checkpoint`` of epoch ``epoch`` (a kill during the save)."""
    priority = 'VERY_HIGH'

    def __init__(self, epoch):
        self.epoch = epoch

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['epoch'] == self.epoch:
            raise _Stop(f'simulated kill while saving epoch {self.epoch}')


@HOOKS.register_module(force=True)
class _ReliabilityCountIters(Hook):
    iters = 0

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        type(self).iters += 1


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    """A config file of a tiny training (6 ids x 4 images)."""
    folder = tmp_path_factory.mktemp('reliability_cfg')
    rng = np.random.RandomState(0)
    samples = []
    for p in range(6):
        base = rng.rand(32, 16, 3) * 255
        for i in range(4):
            path = osp.join(folder, f'{p}_{i}.png')
            cv2.imwrite(path, np.clip(base + rng.randn(32, 16, 3) * 20, 0, 255).astype(np.uint8))
            samples.append(dict(img_path=path, pid=p, camid=i % 2))
    text = f'''
_base_ = [{osp.join(ROOT, 'configs/_base_/default_runtime.py')!r}]
model = dict(type='ReIDBaseline', backbone=dict(type='SmallReIDNet', out_channels=32),
             head=dict(num_classes=6))
train_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='IdentitySampler', batch_size=8, num_instances=4, seed=1),
    dataset=dict(type='ReIDDataset', data_list={samples!r}, split='train',
                 pipeline=[dict(type='LoadReIDImage'), dict(type='PackReIDInputs')]))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, T_max=2)]
train_cfg = dict(by_epoch=True, max_epochs=2)
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
'''
    path = folder / 'tiny.py'
    path.write_text(text)
    # variants with an extra hook (a list of dicts cannot go through --cfg-options)
    for name, hook in (('failsave', "dict(type='_ReliabilityFailSave', epoch=2)"),
                       ('count', "dict(type='_ReliabilityCountIters')")):
        (folder / f'tiny_{name}.py').write_text(
            "_base_ = ['tiny.py']\n"
            f"custom_hooks = [dict(type='PortableCheckpointHook'), {hook}]\n")
    return str(path)


def _train(config, work_dir, *args):
    torch.set_num_threads(1)
    return train_tool.main([config, '--work-dir', str(work_dir)] + list(args))


# -- 1. work-dir lock -------------------------------------------------------------------------
def test_second_training_in_a_locked_work_dir_is_refused(config, tmp_path):
    # Before: both runs went ahead and overwrote each other's checkpoints, exit 0.
    other = WorkDirLock(str(tmp_path), command='python tools/train.py other_run.py').acquire()
    try:
        with pytest.raises(WorkDirLockedError) as err:
            _train(config, tmp_path)
        msg = str(err.value)
        assert f'pid {os.getpid()}' in msg and 'other_run.py' in msg and '--work-dir' in msg
        assert not list(tmp_path.glob('*.pth'))            # refused before any training
    finally:
        other.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_held_by_another_process(tmp_path):
    code = ('import sys, time; sys.path.insert(0, %r)\n'
            'from asym_plugins.engine.workdir import WorkDirLock\n'
            'WorkDirLock(%r, command="sweep run A").acquire()\n'
            'print("locked", flush=True); time.sleep(60)\n') % (ROOT, str(tmp_path))
    proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'locked'
        with pytest.raises(WorkDirLockedError, match=rf'pid {proc.pid} .*sweep run A'):
            WorkDirLock(str(tmp_path)).acquire()
    finally:
        proc.kill()
        proc.wait()
    # The holder was killed: its lock file stays, but the lock is free and taken over.
    assert json.loads((tmp_path / LOCK_NAME).read_text())['pid'] == proc.pid
    logged = []
    import asym_plugins.engine.workdir as workdir
    real = workdir.print_log
    workdir.print_log = lambda msg, **kw: logged.append(msg)
    try:
        lock = WorkDirLock(str(tmp_path)).acquire()
    finally:
        workdir.print_log = real
    assert any(f'pid {proc.pid}' in m and 'taking over' in m for m in logged), logged
    assert json.loads((tmp_path / LOCK_NAME).read_text())['pid'] == os.getpid()
    lock.release()


def test_default_work_dirs_differ_by_cfg_options():
    # Before: a sweep over --cfg-options wrote every run into work_dirs/<method>/<name>.
    from asym_plugins.engine.launch import default_work_dir
    cfg = 'configs/baseline/synthetic.py'
    plain = default_work_dir(cfg)
    a = default_work_dir(cfg, {'optim_wrapper.optimizer.lr': 0.1})
    b = default_work_dir(cfg, {'optim_wrapper.optimizer.lr': 0.01})
    assert plain == './work_dirs/baseline/synthetic'
    assert a == './work_dirs/baseline/synthetic@optim_wrapper.optimizer.lr-0.1'
    assert len({plain, a, b}) == 3
    # cleaned-up values keep apart through the hash
    c = default_work_dir(cfg, {'data_root': 'data/a b'})
    d = default_work_dir(cfg, {'data_root': 'data/a_b'})
    assert c != d and c.startswith('./work_dirs/baseline/synthetic@data_root-data_a')


# -- 2./3. resume -------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def trained(config, tmp_path_factory):
    """A 2-epoch run: epoch_1.pth, epoch_2.pth (max_keep_ckpts=2 of the base runtime)."""
    work = tmp_path_factory.mktemp('trained')
    _train(config, work)
    return work


def test_checkpoints_carry_checksum_fingerprint_and_relative_last(trained):
    assert sorted(p.name for p in trained.glob('epoch_*')) == [
        'epoch_1.pth', 'epoch_1.pth.sha256', 'epoch_2.pth', 'epoch_2.pth.sha256']
    data = (trained / 'epoch_2.pth').read_bytes()
    assert (trained / 'epoch_2.pth.sha256').read_text().split()[0] == \
        hashlib.sha256(data).hexdigest()
    assert (trained / 'last_checkpoint').read_text() == 'epoch_2.pth'
    meta = torch.load(trained / 'epoch_2.pth', map_location='cpu')['meta']
    assert len(meta['asym_model_fingerprint']) == 64
    assert json.loads(meta['asym_model_cfg'])['backbone'] == dict(
        type='SmallReIDNet', out_channels=32)
    assert not (trained / LOCK_NAME).exists()


def test_permissions_follow_the_umask(trained, tmp_path):
    # Before: checkpoints and feature files were created 0600 (mkstemp's mode).
    old = os.umask(0o022)
    try:
        from asym_plugins.engine.checkpoint import AtomicLocalBackend
        from asym_plugins.evaluation.metrics.reid_metric import save_features_npz
        AtomicLocalBackend().put(b'x', tmp_path / 'a.pth')
        save_features_npz(str(tmp_path / 'f.npz'), qf=np.zeros((1, 2)))
        torch.save({}, tmp_path / 'ref.pth')
    finally:
        os.umask(old)
    want = os.stat(tmp_path / 'ref.pth').st_mode & 0o777
    assert want == 0o644
    for name in ('a.pth', 'a.pth.sha256', 'f.npz'):
        assert os.stat(tmp_path / name).st_mode & 0o777 == want, name


def _copy_run(src, dst, names=('epoch_1.pth', 'epoch_1.pth.sha256', 'epoch_2.pth',
                               'epoch_2.pth.sha256', 'last_checkpoint')):
    dst.mkdir(exist_ok=True)
    for name in names:
        (dst / name).write_bytes((src / name).read_bytes())


@pytest.mark.parametrize('override, expect', [
    # a changed head: Adam used to fail later with a bare size error
    ('model.backbone.out_channels=16', r'shapes differ.*backbone'),
    # same shapes, another architecture: used to train on silently
    ('model.backbone.stride=8', r'model.backbone.stride \(new: 8\)'),
    # another optimizer layout: groups differ
    ('optim_wrapper.paramwise_cfg.custom_keys.head.lr_mult=0.1',
     r'optimizer parameter groups differ'),
])
def test_resume_into_another_model_is_refused(config, trained, tmp_path, override, expect):
    _copy_run(trained, tmp_path)
    _ReliabilityCountIters.iters = 0
    with pytest.raises(CheckpointMismatchError, match=expect) as err:
        _train(config.replace('tiny.py', 'tiny_count.py'), tmp_path, '--resume', '--epochs',
               '3', '--cfg-options', override)
    assert 'cannot resume' in str(err.value)
    assert _ReliabilityCountIters.iters == 0          # refused before any training step
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['epoch_1.pth', 'epoch_2.pth']


def test_resume_with_nothing_to_resume(config, tmp_path):
    # Before: "Auto resumed from the latest checkpoint None", trained from scratch, exit 0.
    with pytest.raises(MissingInputError, match=r'nothing to resume.*--resume auto'):
        _train(config, tmp_path, '--resume')
    assert not list(tmp_path.glob('*.pth'))
    runner = _train(config, tmp_path, '--resume', 'auto', '--epochs', '1')
    assert runner.epoch == 1 and (tmp_path / 'epoch_1.pth').is_file()


def test_resume_falls_back_and_survives_a_moved_work_dir(trained, tmp_path):
    _copy_run(trained, tmp_path)
    assert find_resume_checkpoint(str(tmp_path))[0] == str(tmp_path / 'epoch_2.pth')
    # an empty last_checkpoint gave "FileNotFoundError:  can not be found."
    (tmp_path / 'last_checkpoint').write_text('')
    path, notes = find_resume_checkpoint(str(tmp_path))
    assert path == str(tmp_path / 'epoch_2.pth') and 'is empty' in notes[0]
    # an absolute path of the original folder (a copied work dir): the copy's own file
    (tmp_path / 'last_checkpoint').write_text('/elsewhere/run/epoch_2.pth')
    assert find_resume_checkpoint(str(tmp_path))[0] == str(tmp_path / 'epoch_2.pth')
    # a deleted or damaged file: the newest valid checkpoint that exists
    (tmp_path / 'last_checkpoint').write_text('epoch_2.pth')
    data = bytearray((tmp_path / 'epoch_2.pth').read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / 'epoch_2.pth').write_bytes(bytes(data))
    path, notes = find_resume_checkpoint(str(tmp_path))
    assert path == str(tmp_path / 'epoch_1.pth') and 'damaged' in ' '.join(notes)
    os.remove(tmp_path / 'epoch_2.pth')
    assert find_resume_checkpoint(str(tmp_path))[0] == str(tmp_path / 'epoch_1.pth')
    os.remove(tmp_path / 'epoch_1.pth')
    assert find_resume_checkpoint(str(tmp_path))[0] is None


def test_resume_continues_from_the_fallback(config, trained, tmp_path):
    _copy_run(trained, tmp_path, names=('epoch_1.pth', 'epoch_1.pth.sha256'))
    (tmp_path / 'last_checkpoint').write_text(str(trained / 'gone' / 'epoch_2.pth'))
    runner = _train(config, tmp_path, '--resume')
    assert runner.epoch == 2 and (tmp_path / 'epoch_2.pth').is_file()
    assert (tmp_path / 'last_checkpoint').read_text() == 'epoch_2.pth'


# -- 11. damaged files -------------------------------------------------------------------------
@pytest.mark.parametrize('damage, expect', [
    ('flip', 'is damaged: its sha256'),        # used to load silently with changed weights
    ('empty', r'is empty \(0 bytes'),           # used to be torch's "Ran out of input"
    ('text', 'is not a PyTorch checkpoint'),   # used to be "invalid load key"
])
def test_damaged_checkpoint_is_refused_with_its_name(trained, tmp_path, damage, expect):
    path = tmp_path / 'epoch_2.pth'
    _copy_run(trained, tmp_path, names=('epoch_2.pth', 'epoch_2.pth.sha256'))
    data = bytearray(path.read_bytes())
    if damage == 'flip':
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif damage == 'empty':
        path.write_bytes(b'')
    else:
        path.write_text('hello, I am not a checkpoint\n')
    assert expect.split('(')[0].replace('\\', '') in checkpoint_problem(str(path))
    with pytest.raises(CheckpointFileError, match=expect) as err:
        _load_checkpoint(str(path), map_location='cpu')
    assert str(path) in str(err.value)


def test_a_valid_checkpoint_still_loads(trained):
    ckpt = _load_checkpoint(str(trained / 'epoch_2.pth'), map_location='cpu')
    assert ckpt['meta']['epoch'] == 2


# -- 8. keep-last-N ------------------------------------------------------------------------------
def test_keep_last_one_keeps_the_old_checkpoint_until_the_new_is_safe(config, tmp_path):
    # Before: MMEngine deleted epoch_1.pth before writing epoch_2.pth; a kill in between left
    # no checkpoint at all.
    with pytest.raises(_Stop):
        _train(config.replace('tiny.py', 'tiny_failsave.py'), tmp_path, '--cfg-options',
               'default_hooks.checkpoint.max_keep_ckpts=1')
    assert (tmp_path / 'epoch_1.pth').is_file()
    assert checkpoint_problem(str(tmp_path / 'epoch_1.pth')) is None
    assert (tmp_path / 'last_checkpoint').read_text() == 'epoch_1.pth'
    # and without the failure, only the newest stays (with its sidecar)
    runner = _train(config, tmp_path, '--resume', '--cfg-options',
                    'default_hooks.checkpoint.max_keep_ckpts=1')
    assert runner.epoch == 2
    assert sorted(p.name for p in tmp_path.glob('epoch_*')) == [
        'epoch_2.pth', 'epoch_2.pth.sha256']


def test_mmengine_checkpoint_hook_deletes_first():
    """The defect the hook above fixes, shown on MMEngine's own hook (a fake runner)."""
    from mmengine.hooks import CheckpointHook
    order = []

    class Backend:
        def join_path(self, *p):
            return '/'.join(p)

        def isfile(self, path):
            return True

        def remove(self, path):
            order.append(('remove', path))

    class Hub:
        def update_info(self, *a):
            pass

    class Runner:
        message_hub = Hub()
        work_dir = '/nonexistent'

        def save_checkpoint(self, out_dir, name, *a, **k):
            order.append(('save', name))
            raise _Stop('kill during the save')

    hook = CheckpointHook(max_keep_ckpts=1)
    hook.out_dir, hook.file_backend = 'w', Backend()
    from collections import deque
    hook.keep_ckpt_ids = deque([1], 1)
    with pytest.raises(_Stop):
        hook._save_checkpoint_with_step(Runner(), 2, {})
    assert order == [('remove', 'w/epoch_1.pth'), ('save', 'epoch_2.pth')]


def test_stale_tmp_files_are_removed(config, tmp_path):
    (tmp_path / '.epoch_3.pth.abcd1234.tmp').write_bytes(b'partial')
    (tmp_path / '.tmp_xyz.npz').write_bytes(b'partial')
    (tmp_path / 'keep.tmp.txt').write_text('not ours')
    assert sorted(osp.basename(p) for p in remove_stale_tmp(str(tmp_path))) == [
        '.epoch_3.pth.abcd1234.tmp', '.tmp_xyz.npz']
    assert (tmp_path / 'keep.tmp.txt').exists()
    (tmp_path / '.epoch_9.pth.zz.tmp').write_bytes(b'partial')
    _train(config, tmp_path, '--epochs', '1')      # train.py cleans at start
    assert not (tmp_path / '.epoch_9.pth.zz.tmp').exists()


def test_lock_without_flock_falls_back_to_the_pid_check(tmp_path, monkeypatch):
    """A file system without flock (ENOLCK): the lock file with its pid still refuses a second
    run while the first lives, and is taken over once its pid is gone."""
    import errno

    import asym_plugins.engine.workdir as workdir

    def no_flock(fd, op):
        if op & workdir.fcntl.LOCK_UN:
            return None
        raise OSError(errno.ENOLCK, 'No locks available')

    monkeypatch.setattr(workdir.fcntl, 'flock', no_flock)
    first = WorkDirLock(str(tmp_path), command='run A').acquire()
    with pytest.raises(WorkDirLockedError, match=rf'pid {os.getpid()} .*run A'):
        WorkDirLock(str(tmp_path)).acquire()
    first.release()
    assert not (tmp_path / LOCK_NAME).exists()
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True).stdout.strip()
    import socket
    (tmp_path / LOCK_NAME).write_text(json.dumps(dict(pid=int(dead), host=socket.gethostname())))
    lock = WorkDirLock(str(tmp_path)).acquire()
    assert json.loads((tmp_path / LOCK_NAME).read_text())['pid'] == os.getpid()
    lock.release()
