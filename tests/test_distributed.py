"""Distributed runs (2 gloo ranks on the CPU) against what one process predicts.

Training (``tools/train.py --launcher pytorch`` under ``torch.distributed.run``): the
semantics this repository's DDP has, and that the test reproduces step by step in one process:

* ``IdentitySampler`` draws ONE epoch plan (seed + epoch, same on every rank) and rank ``r``
  takes batches ``r, r + W, r + 2W, ...``: step ``i`` sees batch ``2i`` on rank 0 and ``2i + 1``
  on rank 1, each a complete P x K batch of ``batch_size`` (per-rank) images;
* every loss (label-smoothed ID loss, batch-HARD triplet) and every BatchNorm statistic is
  computed per rank on that rank's batch (plain BN, no SyncBN);
* ``MMDistributedDataParallel`` averages the gradients, ``(g_0 + g_1) / 2``, and every rank takes
  the same optimizer step;
* BN running statistics: DDP broadcasts rank 0's buffers before every forward
  (``broadcast_buffers=True``), so the saved model holds the running statistics of rank 0's
  batches only.

So 2 ranks do NOT equal one process with the doubled batch (the triplet mining and the BN
statistics would see 2P identities at once); they equal the per-rank simulation above, which
is what is checked, plus a check that the gradient of rank 1 really entered the update.

Metrics: MMEngine's ``DefaultSampler`` gives rank ``r`` the indices ``r, r + 2, ...`` (padded
with the first ones to equal lengths), ``BaseMetric.evaluate`` gathers the results of both
ranks in dataset order and drops the padding: SYSU-MM01 (``SYSUMetric``, random galleries
drawn from the gathered order) and text -> image (``TextImageMetric``) must equal one rank.
"""
import copy
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(ROOT, 'tests', 'fixtures', 'tiny_synthetic.py')
PER_RANK_BATCH, K = 8, 4


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _errors(text: str) -> str:
    """The lines of a torchrun log that say what went wrong (its tail is only the summary)."""
    keep = [ln for ln in text.splitlines() if any(w in ln for w in (
        'Error', 'error', 'Exception', 'terminate', 'abort', 'Signal', 'gloo'))]
    return '\n'.join(keep[-60:]) or text[-5000:]


def _run_ranks(cmd, tmp_path, work):
    """Run a 2-rank torchrun job; once more when a rank was killed by a signal before it
    finished (gloo's TCP rendezvous has aborted under heavy CPU load on a shared machine). A
    job that fails with an exit code, or twice, is returned as it is."""
    proc = subprocess.run(cmd, env=_env(), cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0 and 'Signal' in proc.stderr:
        warnings.warn('2-rank job killed by a signal; running it once more:\n'
                      + _errors(proc.stderr)[-2000:])
        shutil.rmtree(work, ignore_errors=True)
        port = str(_free_port())
        cmd = [port if prev == '--master_port' else a for prev, a in zip([None] + cmd, cmd)]
        proc = subprocess.run(cmd, env=_env(), cwd=str(tmp_path), capture_output=True,
                              text=True, timeout=600)
    return proc


def _env():
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONPATH=ROOT)
    for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        env.pop(k, None)
    return env


# MoS (configs/mos/synthetic_occluded.py) shrunk like the baseline's tiny twin: 32 patterns.
MOS_TINY = f"""
_base_ = [{osp.join(ROOT, 'configs', 'mos', 'synthetic_occluded.py')!r}]
pipe = [dict(type='LoadReIDImage', skip_undecodable=False),
        dict(type='Resize', scale=(32, 64), keep_ratio=False),
        dict(type='PackReIDInputs')]
train_dataloader = dict(num_workers=0, dataset=dict(pipeline=pipe, img_size=(64, 32)))
model = dict(backbone=dict(out_channels=32, widths=(8, 16, 32)))
"""


def _write_cfg(tmp_path, init_ckpt, method='baseline'):
    """The baseline (tiny twin) or MoS, 4 ids x 8 images, 2 epochs of 2 steps per rank, no val."""
    base = TINY
    if method == 'mos':
        base = str(tmp_path / 'mos_tiny.py')
        with open(base, 'w') as f:
            f.write(MOS_TINY)
    cfg = tmp_path / 'ddp_cfg.py'
    cfg.write_text(textwrap.dedent(f"""
        _base_ = [{base!r}]
        world = dict(train_imgs_per_id=8)
        train_dataloader = dict(
            batch_size={PER_RANK_BATCH}, persistent_workers=False,
            sampler=dict(type='IdentitySampler', batch_size={PER_RANK_BATCH},
                         num_instances={K}, seed=3),
            dataset=dict(num_train_ids=4, world_cfg=world))
        model = dict(head=dict(num_classes=4))
        optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=5e-4))
        param_scheduler = []
        train_cfg = dict(max_epochs=2, val_interval=100)
        val_dataloader = None
        val_evaluator = None
        val_cfg = None
        test_dataloader = None
        test_evaluator = None
        test_cfg = None
        load_from = {str(init_ckpt)!r}
        default_hooks = dict(checkpoint=dict(interval=2))
        """))
    return cfg


def _simulate(cfg, init_state, world_size=2, use_rank1=True):
    """One process replaying the DDP semantics of the module docstring."""
    import asym_plugins.data.samplers.identity_sampler as sampler_mod
    from asym_plugins.registry import DATA_SAMPLERS, DATASETS, MODELS

    with DefaultScope.overwrite_default_scope('asym'):
        model = MODELS.build(copy.deepcopy(cfg.model))
        model.load_state_dict(init_state)
        model.train()
        dataset = DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset))
        samplers = []
        real = sampler_mod.get_dist_info
        try:
            for r in range(world_size):
                sampler_mod.get_dist_info = lambda r=r: (r, world_size)
                samplers.append(DATA_SAMPLERS.build(dict(
                    copy.deepcopy(cfg.train_dataloader.sampler), dataset=dataset)))
        finally:
            sampler_mod.get_dist_info = real
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-4)
        params = [p for p in model.parameters() if p.requires_grad]

        def grads(m, batch):
            data = m.data_preprocessor(pseudo_collate([dataset[i] for i in batch]), True)
            loss, _ = m.parse_losses(m(**data, mode='loss'))
            m.zero_grad()
            loss.backward()
            return [p.grad.detach().clone() for p in m.parameters() if p.requires_grad]

        steps = 0
        for epoch in range(cfg.train_cfg.max_epochs):
            per_rank = []
            for s in samplers:
                s.set_epoch(epoch)
                idx = list(s)
                per_rank.append([idx[i:i + PER_RANK_BATCH]
                                 for i in range(0, len(idx), PER_RANK_BATCH)])
            assert len({len(b) for b in per_rank}) == 1
            for step in range(len(per_rank[0])):
                twin = copy.deepcopy(model)  # rank 1: same weights and buffers before the step
                g0 = grads(model, per_rank[0][step])  # rank 0 keeps its running statistics
                gs = [g0]
                if use_rank1:
                    gs.append(grads(twin, per_rank[1][step]))
                    if hasattr(model, 'prior'):  # MoS: the batch maxima are MAX-all-reduced
                        model.prior.M_p.copy_(torch.maximum(model.prior.M_p, twin.prior.M_p))
                for p, *g in zip(params, *gs):
                    p.grad = torch.stack(g).mean(0) if use_rank1 else g[0]
                opt.step()
                steps += 1
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, steps


@pytest.mark.slow
@pytest.mark.parametrize('method', ['baseline', 'mos'])
def test_two_gloo_ranks_train_like_the_per_rank_simulation(tmp_path, method):
    """For MoS also the prior: every rank merges the MAX over both ranks' batches."""
    import asym_plugins  # noqa: F401
    from asym_plugins.registry import MODELS

    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('asym'):
        probe = Config.fromfile(str(_write_cfg(tmp_path, 'unused', method)))
        init = MODELS.build(copy.deepcopy(probe.model)).state_dict()
    init_ckpt = tmp_path / 'init.pth'
    torch.save(dict(state_dict=init, meta=dict()), init_ckpt)
    cfg_path = _write_cfg(tmp_path, init_ckpt, method)
    work = tmp_path / 'work'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_addr', '127.0.0.1', '--master_port', str(_free_port()),
           osp.join(ROOT, 'tools', 'train.py'), str(cfg_path), '--launcher', 'pytorch',
           '--work-dir', str(work)]
    proc = _run_ranks(cmd, tmp_path, work)
    assert proc.returncode == 0, (proc.stdout[-3000:], _errors(proc.stderr))
    ckpt = torch.load(work / 'epoch_2.pth', map_location='cpu', weights_only=False)
    assert ckpt['meta']['epoch'] == 2
    got = ckpt['state_dict']

    cfg = Config.fromfile(str(cfg_path))
    want, steps = _simulate(cfg, init)
    # 4 ids x 8 images = 8 groups of K=4 -> 4 batches of P=2 ids per epoch, 2 per rank
    assert steps == 4 and ckpt['meta']['iter'] == 4
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-4, atol=1e-5, msg=k)
    # Rank 1's gradients mattered: rank 0 alone predicts other weights.
    alone, _ = _simulate(cfg, init, use_rank1=False)
    diff = max((alone[k].float() - got[k].float()).abs().max().item()
               for k in want if want[k].is_floating_point())
    assert diff > 1e-3, diff
    if method == 'mos':   # the prior saw rank 1's batches too
        assert int(got['prior.num_updates']) == 4 and got['prior.M_p'].sum() > 0
        assert not torch.equal(alone['prior.M_p'], got['prior.M_p'])


# -- metrics across 2 ranks --------------------------------------------------------------------
_METRIC_WORKER = r"""
import json, pickle, sys
import torch
import torch.distributed as dist
from mmengine.dataset import DefaultSampler
from mmengine.registry import DefaultScope

import asym_plugins  # noqa: F401
from asym_plugins.registry import METRICS

data_file, metric_json, init_file, out_file, rank, world = sys.argv[1:7]
rank, world = int(rank), int(world)
if world > 1:
    dist.init_process_group('gloo', init_method='file://' + init_file, rank=rank,
                            world_size=world)
with open(data_file, 'rb') as f:
    samples = pickle.load(f)
sampler = DefaultSampler(list(range(len(samples))), shuffle=False)
idx = list(sampler)
out = []
for cfg in json.loads(metric_json):   # one metric after the other, as an Evaluator does
    with DefaultScope.overwrite_default_scope('asym'):
        metric = METRICS.build(cfg)
    for i in range(0, len(idx), 5):   # batches of 5, like a test loop
        metric.process(None, [samples[j] for j in idx[i:i + 5]])
    out.append(metric.evaluate(len(samples)))
with open(out_file, 'w') as f:
    json.dump(dict(n_local=len(idx), metrics=out), f)
if world > 1:
    dist.destroy_process_group()
"""


def _run_metric(tmp_path, samples, metric_cfg, world):
    import pickle
    data = tmp_path / 'samples.pkl'
    with open(data, 'wb') as f:
        pickle.dump(samples, f)
    script = tmp_path / 'metric_worker.py'
    script.write_text(_METRIC_WORKER)
    init = tmp_path / f'init_{world}'
    outs = [tmp_path / f'out_{world}_{r}.json' for r in range(world)]
    procs = [subprocess.Popen([sys.executable, str(script), str(data), json.dumps(metric_cfg),
                               str(init), str(outs[r]), str(r), str(world)], env=_env(),
                              cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for r in range(world)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    results = []
    for o in outs:
        with open(o) as f:
            results.append(json.load(f))
    return results


def _sysu_samples(n_ids=7, seed=0):
    """A SYSU-like test set: infrared queries (cams 3, 6) and a visible pool (cams 1, 2, 4, 5),
    0-based camids, features that share an identity direction plus noise (odd count: the
    distributed sampler pads)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_ids, 16, generator=g)
    out = []
    for pid in range(n_ids):
        for cam in (0, 1, 2, 3, 4, 5):
            for _ in range(2 + (pid + cam) % 3):
                f = centres[pid] + 0.9 * torch.randn(16, generator=g)
                out.append(dict(pred_feature=f, pid=pid, camid=cam,
                                modality='infrared' if cam in (2, 5) else 'visible',
                                img_path=f'cam{cam + 1}/{pid:04d}/{len(out):04d}.jpg'))
    perm = torch.randperm(len(out), generator=g).tolist()
    return [out[i] for i in perm[:len(perm) - 1 + len(perm) % 2]]  # an odd count


def test_sysu_metric_two_ranks_equal_one(tmp_path):
    samples = _sysu_samples()
    assert len(samples) % 2 == 1  # rank 1 gets a padded duplicate that must be dropped
    cfgs = [dict(type='SYSUMetric', mode=mode, shots=shots, trials=4, seed=5)
            for mode in ('all', 'indoor') for shots in (1, 10)]
    one = _run_metric(tmp_path, samples, cfgs, world=1)[0]
    two = _run_metric(tmp_path, samples, cfgs, world=2)
    assert [r['n_local'] for r in two] == [(len(samples) + 1) // 2] * 2
    assert one['n_local'] == len(samples)
    for r in two:
        for cfg, want, got in zip(cfgs, one['metrics'], r['metrics']):
            assert got.keys() == want.keys()
            for k, v in want.items():
                assert got[k] == pytest.approx(v, abs=1e-6), (cfg, k)
    # the rankings are not trivial (neither perfect nor empty) and the modes differ
    assert all(0 < m['mAP'] < 100 for m in one['metrics'])
    assert one['metrics'][0] != one['metrics'][2]


def _text_samples(n_ids=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_ids, 12, generator=g)
    out = []
    for pid in range(n_ids):
        for j in range(3 + pid % 2):
            s = dict(pred_feature=centres[pid] + torch.randn(12, generator=g), pid=pid)
            if j < 2:  # a captioned image: 1 or 2 caption features
                s['text_features'] = centres[pid] + 1.2 * torch.randn(1 + (j + pid) % 2, 12,
                                                                      generator=g)
            out.append(s)
    perm = torch.randperm(len(out), generator=g).tolist()
    return [out[i] for i in perm]


def test_text_image_metric_two_ranks_equal_one(tmp_path):
    samples = _text_samples()
    assert len(samples) % 2 == 1
    cfg = [dict(type='TextImageMetric')]
    one = _run_metric(tmp_path, samples, cfg, world=1)[0]['metrics'][0]
    two = _run_metric(tmp_path, samples, cfg, world=2)
    # independent value: R1 by brute force over every caption (cosine, no camera filter)
    q, qp, gf, gp = [], [], [], []
    for s in samples:
        gf.append(s['pred_feature'])
        gp.append(s['pid'])
        for t in s.get('text_features', []):
            q.append(t)
            qp.append(s['pid'])
    sim = torch.nn.functional.normalize(torch.stack(q), dim=1) @ \
        torch.nn.functional.normalize(torch.stack(gf), dim=1).T
    r1 = np.mean([gp[int(sim[i].argmax())] == qp[i] for i in range(len(q))]) * 100
    assert one['R1'] == pytest.approx(r1, abs=1e-4)
    assert 0 < one['R1'] < 100
    for r in two:
        got = r['metrics'][0]
        assert got.keys() == one.keys()
        for k, v in one.items():
            assert got[k] == pytest.approx(v, abs=1e-6), k
