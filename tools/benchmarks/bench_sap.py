"""SAP cost and effect on the synthetic occluded preset.

1. Cost (default): one training step (forward, backward, optimiser step) of SAP with all its
   losses (teacher hook, L_patch, proxies + L_proxy, MAPR, SSD, part ID + triplet) against the
   plain ViT baseline (the same ViT, ID + triplet on the CLS token). Each variant runs in its
   own process with the same thread settings (``harness.py``): warm-up step(s), then
   ``--repeat`` timed steps (median), in the harness's thread modes; ratio SAP / baseline.
   Peak memory: a separate run per variant; CPU: peak RSS growth over one step (``VmHWM``
   reset after the warm-up); CUDA: ``torch.cuda.max_memory_allocated``. Correctness (also
   ``--quick``): every loss term finite, SAP reports its patch / proxy terms.

       python tools/benchmarks/bench_sap.py --quick                 # tiny ViT, 64x32, batch 8
       python tools/benchmarks/bench_sap.py                         # small CPU ViT, 128x64
       python tools/benchmarks/bench_sap.py --arch base --img 256 128 --batch 16 --device cuda

2. Ablation (``--ablation``): trains configs/sap/synthetic_occluded.py once per variant with
   tools/train.py (same seed, same budget, one thread each) and prints mAP / R1 / mINP:
   ViT baseline, +patch, +proxy, both (SAP), w/o MAPR, w/o SSD, and the teacher kinds
   (exact masks, rule teacher, noisy exact masks).

       python tools/benchmarks/bench_sap.py --ablation --epochs 24 --jobs 2
"""
import argparse
import math
import os
import os.path as osp
import re
import subprocess
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(1, ROOT)
import harness  # noqa: E402

VARIANTS = ('baseline', 'sap')


# ----------------------------------------------------------------------------- cost
def build(variant: str, args):
    import torch

    from asym_plugins.methods.sap import SAPModel
    torch.manual_seed(0)
    kw = dict(patch_loss=dict(type='PatchConsistencyDistillLoss', temperature=0.2),
              proxy_loss=dict(type='ProxyConsistencyDistillLoss', temperature=0.2))
    if variant == 'baseline':
        kw.update(patch_loss=None, proxy=None)
    patch_layers = tuple(int(v) for v in args.patch_layers.split(','))
    model = SAPModel(
        backbone=dict(type='ReIDViT', arch=args.arch, img_size=tuple(args.img), patch_size=16,
                      stride=12, drop_path_rate=0.1),
        num_classes=args.batch // 4 * 10, num_parts=4, patch_layers=patch_layers, **kw)
    return model.to(args.device).train()


def make_batch(args, seed=0):
    import torch

    from asym_plugins.structures import ReIDDataSample
    g = torch.Generator().manual_seed(seed)
    h, w = args.img
    inputs = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
              for _ in range(args.batch)]
    samples = []
    rows = torch.arange(h)[:, None].expand(h, w)
    bands = torch.bucketize(rows, torch.tensor([h // 8, h * 3 // 8, h * 5 // 8, h * 7 // 8]))
    for i in range(args.batch):
        s = ReIDDataSample(metainfo=dict(img_path=f'{i}.png', pid=i // 4, camid=0))
        s.set_gt_label(i // 4)
        mask = bands.clone()
        mask[:, : w // 6] = 0
        mask[:, -w // 6:] = 0
        s.part_mask = mask
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def side(variant):
    def factory(args, data):
        import torch

        from asym_plugins.hooks import TeacherDistillationHook
        model = build(variant, args)
        hook = TeacherDistillationHook(teacher=dict(type='SampleMaskTeacher')) \
            if variant == 'sap' else None
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        data_batch = make_batch(args)
        dev = torch.device(args.device)

        def step():
            if hook is not None:
                hook.before_train_iter(None, 0, data_batch)
            batch = model.data_preprocessor(data_batch, True)
            losses = model(**batch, mode='loss')
            loss = sum(v for k, v in losses.items() if k.startswith('loss'))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return {k: float(v.detach()) for k, v in losses.items() if k.startswith('loss')}

        return harness.Prepared(
            run=step, memory_warmup=step,
            sync=(lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else None,
            cuda_device=dev if dev.type == 'cuda' else None,
            to_json=lambda losses: dict(losses=losses))
    return factory


SIDES = {v: side(v) for v in VARIANTS}


def check(results):
    for v, r in results.items():
        bad = {k: x for k, x in r['losses'].items() if not math.isfinite(x)}
        assert not bad, f'{v}: non-finite loss terms {bad}'
    extra = sorted(set(results['sap']['losses']) - set(results['baseline']['losses']))
    assert extra, 'SAP reports no loss term beyond the baseline\'s'
    return f'all loss terms finite; SAP adds {", ".join(extra)}'


# ----------------------------------------------------------------------------- ablation
ABLATION = [
    # name, --cfg-options
    ('ViT baseline', ['model.patch_loss=None', 'model.proxy=None']),
    ('+patch', ['model.proxy=None']),
    ('+proxy', ['model.patch_loss=None']),
    ('both (SAP)', []),
    ('w/o MAPR', ['model.proxy.mapr=False']),
    ('w/o SSD', ['model.ssd=None']),
    ('teacher: rule', ['custom_hooks.0.teacher.type=RuleTeacher']),
    ('teacher: noisy exact', ['custom_hooks.0.teacher.type=NoisyMaskTeacher',
                              'custom_hooks.0.teacher.teacher.type=SampleMaskTeacher']),
]
METRIC_RE = re.compile(r'Epoch\(val\).*?R1: ([\d.]+).*?mAP: ([\d.]+)\s+mINP: ([\d.]+)')


def run_ablation(args):
    config = osp.join(ROOT, 'configs', 'sap', 'synthetic_occluded.py')
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    todo = [(i, n, o) for i, (n, o) in enumerate(ABLATION)
            if not args.only or any(s in n for s in args.only)]
    procs, results = [], {}

    def launch(i, name, opts):
        wd = osp.join(args.work_dir, f'{i:02d}')
        os.makedirs(wd, exist_ok=True)
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', wd,
               '--cfg-options', f'train_cfg.max_epochs={args.epochs}',
               f'train_cfg.val_interval={args.epochs}', f'randomness.seed={args.seed}',
               f'param_scheduler.1.end={args.epochs}', *opts]
        print(f'[{name}] ' + ' '.join(cmd[1:]), flush=True)
        log = open(osp.join(wd, 'stdout.log'), 'w')
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT), \
            name, wd, time.time()

    queue = list(todo)
    while queue or procs:
        while queue and len(procs) < args.jobs:
            procs.append(launch(*queue.pop(0)))
        time.sleep(5)
        for p in list(procs):
            proc, name, wd, t0 = p
            if proc.poll() is None:
                continue
            procs.remove(p)
            text = open(osp.join(wd, 'stdout.log')).read()
            found = METRIC_RE.findall(text)
            results[name] = (tuple(float(v) for v in found[-1]) if found else None,
                             time.time() - t0, proc.returncode)
            print(f'[{name}] done rc={proc.returncode} {results[name]}', flush=True)
    print(f'\nSynthetic occluded preset, {args.epochs} epochs, seed {args.seed} '
          '(R1 / mAP / mINP in %):')
    print('| variant | R1 | mAP | mINP | train+test s |\n|---|---|---|---|---|')
    for _, name, _ in todo:
        m, secs, rc = results[name]
        row = f'{m[0]:.1f} | {m[1]:.1f} | {m[2]:.1f}' if m else f'failed (rc {rc}) | | '
        print(f'| {name} | {row} | {secs:.0f} |')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='cpu')
    p.add_argument('--img', type=int, nargs=2, default=None, metavar=('H', 'W'),
                   help='default 128 64 (--quick: 64 32)')
    p.add_argument('--batch', type=int, default=None, help='default 32 (--quick: 8)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--patch-layers', default='-2,-1')
    p.add_argument('--ablation', action='store_true')
    p.add_argument('--epochs', type=int, default=24)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--jobs', type=int, default=1, help='ablation runs in parallel')
    p.add_argument('--only', nargs='*', help='ablation rows whose name contains one of these')
    p.add_argument('--work-dir', default='work_dirs/sap_ablation')
    harness.add_arguments(p)
    args = p.parse_args(argv)
    if args.img is None:
        args.img = (64, 32) if args.quick else (128, 64)
    if args.batch is None:
        args.batch = 8 if args.quick else 32
    if harness.is_child(args):
        return harness.child_main(args, SIDES)
    if args.ablation:
        return run_ablation(args)
    title = (f'SAP training step vs plain ViT baseline, seconds per step: arch={args.arch}, '
             f'{args.img[0]}x{args.img[1]}, batch {args.batch}, device {args.device}, distilled '
             f'layers {args.patch_layers} (goal: SAP <= 1.3x)')
    harness.run(args, [harness.Side('baseline', 'ViT baseline step'),
                       harness.Side('sap', 'SAP step')],
                reference='baseline', check=check, title=title)


if __name__ == '__main__':
    main()
