"""SAP cost and effect on the synthetic occluded preset.

1. Cost (default): one training step (forward, backward, optimiser step) of SAP with all its
   losses (teacher hook, L_patch, proxies + L_proxy, MAPR, SSD, part ID + triplet) against the
   plain ViT baseline (the same ViT, ID + triplet on the CLS token), timed in one process,
   interleaved (A B A B ...) so machine load hits both alike; median per step and the ratio.
   Peak memory: each variant runs again in its own subprocess; on CPU the figure is the peak
   resident set size during 3 training steps (sampled every ms from /proc/self/statm) minus
   the level before them (tracemalloc does not see torch's allocator; ``ru_maxrss`` is
   dominated by the imports); on CUDA ``torch.cuda.max_memory_allocated``.

       python tools/benchmarks/bench_sap.py                         # small CPU ViT, 128x64
       python tools/benchmarks/bench_sap.py --arch base --img 256 128 --batch 16 --steps 5

2. Ablation (``--ablation``): trains configs/sap/synthetic_occluded.py once per variant with
   tools/train.py (same seed, same budget, one thread each) and prints mAP / R1 / mINP:
   ViT baseline, +patch, +proxy, both (SAP), w/o MAPR, w/o SSD, and the teacher kinds
   (exact masks, rule teacher, noisy exact masks).

       python tools/benchmarks/bench_sap.py --ablation --epochs 24 --jobs 2
"""
import argparse
import json
import os
import os.path as osp
import re
import resource
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

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


def step_fn(variant, args):
    import torch
    from asym_plugins.hooks import TeacherDistillationHook
    model = build(variant, args)
    hook = TeacherDistillationHook(teacher=dict(type='SampleMaskTeacher')) \
        if variant == 'sap' else None
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    data = make_batch(args)

    def step():
        if hook is not None:
            hook.before_train_iter(None, 0, data)
        batch = model.data_preprocessor(data, True)
        losses = model(**batch, mode='loss')
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
    return step


def run_timing(args):
    steps = {v: step_fn(v, args) for v in VARIANTS}
    for v in VARIANTS:
        for _ in range(args.warmup):
            steps[v]()
    times = {v: [] for v in VARIANTS}
    for i in range(args.steps):
        for v in (VARIANTS if i % 2 == 0 else VARIANTS[::-1]):
            t0 = time.perf_counter()
            steps[v]()
            times[v].append(time.perf_counter() - t0)
    return {v: statistics.median(t) for v, t in times.items()}


def _current_rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def run_memory_worker(args):
    """Runs in a subprocess: prints JSON with the peak memory of one variant's training steps.

    CPU: the resident set size is sampled every millisecond (``/proc/self/statm``) while
    the steps run; the figure is its peak minus the level just before the first step (model,
    optimiser and batch built), i.e. what the steps themselves need (activations, gradients,
    optimiser state). ``ru_maxrss`` (the process's peak, imports included) is reported too.
    """
    import threading

    import torch
    step = step_fn(args.worker, args)
    cuda = args.device.startswith('cuda')
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    before = _current_rss_mb()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _current_rss_mb())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for _ in range(3):
        step()
    done.set()
    sampler.join()
    out = dict(step_peak_mb=peak[0] - before, before_mb=before,
               maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    if cuda:
        out['cuda_peak_mb'] = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    print('MEMORY ' + json.dumps(out))


def memory(variant, args):
    cmd = [sys.executable, osp.abspath(__file__), '--worker', variant, '--arch', args.arch,
           '--img', *map(str, args.img), '--batch', str(args.batch), '--device', args.device,
           '--warmup', str(args.warmup), '--threads', str(args.threads),
           f'--patch-layers={args.patch_layers}']
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(re.search(r'^MEMORY (.*)$', out, re.M).group(1))


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
    print(f'| variant | R1 | mAP | mINP | train+test s |\n|---|---|---|---|---|')
    for _, name, _ in todo:
        m, secs, rc = results[name]
        row = f'{m[0]:.1f} | {m[1]:.1f} | {m[2]:.1f}' if m else f'failed (rc {rc}) | | '
        print(f'| {name} | {row} | {secs:.0f} |')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='cpu')
    p.add_argument('--img', type=int, nargs=2, default=(128, 64), metavar=('H', 'W'))
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--steps', type=int, default=10, help='timed steps per variant')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--patch-layers', default='-2,-1')
    p.add_argument('--worker', choices=VARIANTS, help=argparse.SUPPRESS)
    p.add_argument('--ablation', action='store_true')
    p.add_argument('--epochs', type=int, default=24)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--jobs', type=int, default=1, help='ablation runs in parallel')
    p.add_argument('--only', nargs='*', help='ablation rows whose name contains one of these')
    p.add_argument('--work-dir', default='work_dirs/sap_ablation')
    args = p.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    if args.worker:
        return run_memory_worker(args)
    if args.ablation:
        return run_ablation(args)
    print(f'SAP training step vs plain ViT baseline: arch={args.arch}, {args.img[0]}x{args.img[1]},'
          f' batch {args.batch}, device {args.device}, {args.threads} thread(s), distilled '
          f'layers {args.patch_layers}; median of {args.steps} interleaved steps')
    t = run_timing(args)
    mem = {v: memory(v, args) for v in VARIANTS}
    for v in VARIANTS:
        extra = (f', CUDA peak allocated {mem[v]["cuda_peak_mb"]:.0f} MB'
                 if 'cuda_peak_mb' in mem[v] else '')
        print(f'  {v:9s} step {t[v] * 1000:8.1f} ms   peak memory of the steps '
              f'{mem[v]["step_peak_mb"]:6.0f} MB (process ru_maxrss {mem[v]["maxrss_mb"]:.0f} MB)'
              f'{extra}')
    print(f'  time ratio SAP / baseline: {t["sap"] / t["baseline"]:.2f}x (goal <= 1.3x)')
    key = 'cuda_peak_mb' if 'cuda_peak_mb' in mem['sap'] else 'step_peak_mb'
    ratio = mem['sap'][key] / max(mem['baseline'][key], 1e-6)
    print(f'  memory ratio SAP / baseline: {ratio:.2f}x '
          + ('(torch.cuda.max_memory_allocated)' if key == 'cuda_peak_mb' else
             '(CPU: peak RSS during 3 training steps over the RSS before them, sampled every '
             'ms from /proc/self/statm in a subprocess per variant)'))


if __name__ == '__main__':
    main()
