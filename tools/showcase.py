"""The asymmetric showcase: each method against its baseline on its own synthetic scenario.

Trains every pair with the same seed and budget on the embedded synthetic world (nothing to
download), shows progress while it runs, and prints one Markdown table at the end:

    python tools/showcase.py                  # the default rows (about 14 min on 2 CPU cores)
    python tools/showcase.py --only sim mcma  # a subset of methods
    python tools/showcase.py --all            # also MoS on partial queries
    python tools/showcase.py --epochs 3       # one budget for every run (smoke test)

Each run is an ordinary ``tools/train.py CONFIG --epochs N`` job (the config's schedule scaled
to the showcase budget; logs and checkpoints in ``work_dirs/showcase/<name>``), so any row can
be re-run or inspected on its own. ``--jobs`` runs (default: one per 2 CPU cores, at least 2)
train side by side, each with ``OMP_NUM_THREADS = cores // jobs``.
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# (method, scenario, row label, config, extra --cfg-options, showcase epochs, default row,
#  wall minutes per epoch measured with 2 runs side by side on a 2-core CPU: longest runs start
#  first so that the two lanes end together)
EXPERIMENTS = [
    ('mos', 'occluded', 'BoT baseline', 'configs/mos/ablation/baseline_synthetic_occluded.py',
     [], 15, True, 0.22),
    ('mos', 'occluded', 'MoS', 'configs/mos/synthetic_occluded.py', [], 15, True, 0.245),
    ('mos', 'partial', 'BoT baseline', 'configs/mos/ablation/baseline_synthetic_partial.py',
     [], 15, False, 0.24),
    ('mos', 'partial', 'MoS', 'configs/mos/synthetic_partial.py', [], 15, False, 0.24),
    ('sap', 'occluded', 'ViT baseline', 'configs/sap/synthetic_occluded.py',
     ['model.patch_loss=None', 'model.proxy=None'], 16, True, 0.15),
    ('sap', 'occluded', 'SAP', 'configs/sap/synthetic_occluded.py', [], 16, True, 0.19),
    ('sim', 'infrared->visible', 'BoT, then + SIM (same model)',
     'configs/sim/synthetic_ir_bot.py', [], 25, True, 0.245),
    ('mcma', 'text->image', 'MCMA baseline', 'configs/mcma/ablation/synthetic_baseline.py',
     [], 16, True, 0.225),
    ('mcma', 'text->image', 'MCMA', 'configs/mcma/synthetic_text.py', [], 16, True, 0.29),
]
_TRAIN_LINE = re.compile(r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]')


def last_metrics(work_dir):
    """The last validation record MMEngine's LocalVisBackend wrote under ``work_dir``."""
    found = None
    for dirpath, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(dirpath, 'scalars.json')) as f:
                for line in f:
                    rec = json.loads(line)
                    if any(k.split('/')[-1] in ('mAP', 'R1') for k in rec):
                        found = rec
    return found


def epochs_done(log_path):
    """Fractional epochs a run has finished, read from its MMEngine log."""
    try:
        with open(log_path, errors='replace') as f:
            hits = _TRAIN_LINE.findall(f.read())
    except OSError:
        return 0.0
    if not hits:
        return 0.0
    epoch, it, total = (int(v) for v in hits[-1])
    return epoch - 1 + it / total


def run_one(config, options, work_dir, epochs, log_path, threads):
    """Train one row with ``tools/train.py``; returns its last validation metrics."""
    cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'), osp.join(ROOT, config),
           '--work-dir', work_dir, '--epochs', str(epochs)]
    if options:
        cmd += ['--cfg-options'] + list(options)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with open(log_path, 'w') as log:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        with open(log_path, errors='replace') as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f'{osp.basename(work_dir)} failed (exit {proc.returncode}); log '
                           f'{log_path}:\n{tail}')
    return last_metrics(work_dir)


def _metric(metrics, name):
    for key, value in metrics.items():
        if key == name or (key.endswith('/' + name) and not key.startswith('sim/')):
            return value
    return float('nan')


def format_table(rows):
    lines = ['| method | scenario | model | epochs | mAP | R1 | + SIM mAP | + SIM R1 |',
             '|---|---|---|---:|---:|---:|---:|---:|']
    for method, scenario, label, epochs, metrics in rows:
        if metrics is None:
            lines.append(f'| {method} | {scenario} | {label} | {epochs} | failed | | | |')
            continue
        sim = (f"{metrics['sim/mAP']:.1f} | {metrics['sim/R1']:.1f}" if 'sim/mAP' in metrics
               else '|')
        lines.append(f'| {method} | {scenario} | {label} | {epochs} | '
                     f'{_metric(metrics, "mAP"):.1f} | {_metric(metrics, "R1"):.1f} | {sim} |')
    return '\n'.join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--only', nargs='+', choices=sorted({e[0] for e in EXPERIMENTS}),
                   help='methods to run (default: all)')
    p.add_argument('--all', action='store_true', help='also the rows left out by default')
    p.add_argument('--epochs', type=int, default=None,
                   help="one budget for every run instead of each row's showcase budget")
    p.add_argument('--jobs', type=int, default=None,
                   help='runs trained side by side (default: max(2, cores // 2))')
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs/showcase'))
    return p.parse_args(argv)


def main(argv=None):
    from tqdm import tqdm
    args = parse_args(argv)
    cores = os.cpu_count() or 2
    jobs = args.jobs or max(2, cores // 2)
    threads = max(1, cores // jobs)
    os.makedirs(args.work_dir, exist_ok=True)
    todo = [e for e in EXPERIMENTS
            if (not args.only or e[0] in args.only) and (args.all or e[6] or args.only)]
    plan = []
    for method, scenario, label, config, opts, epochs, _, cost in todo:
        name = re.sub(r'[^A-Za-z0-9_.-]+', '_', f'{method}-{scenario}-{label}').strip('_')
        plan.append(dict(method=method, scenario=scenario, label=label, config=config,
                         opts=opts, epochs=args.epochs or epochs,
                         minutes=(args.epochs or epochs) * cost,
                         work_dir=osp.join(args.work_dir, name),
                         log=osp.join(args.work_dir, name + '.log')))
    total = sum(p['epochs'] for p in plan)
    lanes = [0.0] * jobs
    for p in sorted(plan, key=lambda p: -p['minutes']):
        lanes[lanes.index(min(lanes))] += p['minutes'] * 2 / jobs
    print(f'asym-reid showcase: {len(plan)} runs, {total} epochs in all, {jobs} side by side '
          f'({threads} thread(s) each), about {max(lanes):.0f} min on 2 cores; logs in '
          f'{args.work_dir}', flush=True)
    results = {}
    start = time.time()

    def job(p):
        try:
            results[p['log']] = run_one(p['config'], p['opts'], p['work_dir'], p['epochs'],
                                        p['log'], threads)
            m = results[p['log']] or {}
            status = f"mAP {_metric(m, 'mAP'):.1f} R1 {_metric(m, 'R1'):.1f}"
        except RuntimeError as e:
            print(e, file=sys.stderr)
            results[p['log']] = None
            status = 'FAILED'
        tqdm.write(f"[{(time.time() - start) / 60:5.1f} min] {p['label']} on {p['scenario']}: "
                   f'{status}')

    with tqdm(total=total, unit='epoch', desc='showcase',
              bar_format='{l_bar}{bar}| {n:.1f}/{total} epochs [{elapsed}<{remaining}]') as bar:
        with ThreadPoolExecutor(jobs) as pool:
            futures = [pool.submit(job, p)
                       for p in sorted(plan, key=lambda p: -p['minutes'])]
            while not all(f.done() for f in futures):
                time.sleep(2)
                bar.n = sum(min(p['epochs'], epochs_done(p['log'])) if p['log'] not in results
                            else p['epochs'] for p in plan)
                bar.refresh()
            bar.n = total
            bar.refresh()
    rows = [(p['method'], p['scenario'], p['label'], p['epochs'], results.get(p['log']))
            for p in plan]
    table = format_table(rows)
    print(f'\nasym-reid showcase on the synthetic world ({(time.time() - start) / 60:.1f} min)\n')
    print(table)
    with open(osp.join(args.work_dir, 'showcase.md'), 'w') as f:
        f.write(table + '\n')
    return rows


if __name__ == '__main__':
    main()
