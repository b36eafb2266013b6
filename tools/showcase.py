"""The asymmetric showcase: each method against its baseline on its own synthetic scenario.

Trains every pair with the same seed and budget on the embedded synthetic world (nothing to
download), shows progress while it runs, and prints one Markdown table at the end:

    python tools/showcase.py                 # all scenarios (about 15 min on 2 CPU cores)
    python tools/showcase.py --only sim mcma # a subset
    python tools/showcase.py --epochs 4      # a shorter budget for every run

Each run is an ordinary ``tools/train.py`` job (its logs and checkpoints stay in
``work_dirs/showcase/<name>``), so any row can be re-run or inspected on its own.
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# (group, row label, config, extra --cfg-options); a group is a method and its baseline.
EXPERIMENTS = [
    ('mos', 'occluded', 'BoT baseline', 'configs/mos/ablation/baseline_synthetic_occluded.py', []),
    ('mos', 'occluded', 'MoS', 'configs/mos/synthetic_occluded.py', []),
    ('mos', 'partial', 'BoT baseline', 'configs/mos/ablation/baseline_synthetic_partial.py', []),
    ('mos', 'partial', 'MoS', 'configs/mos/synthetic_partial.py', []),
    ('sap', 'occluded', 'ViT baseline', 'configs/sap/synthetic_occluded.py',
     ['model.patch_loss=None', 'model.proxy=None']),
    ('sap', 'occluded', 'SAP', 'configs/sap/synthetic_occluded.py', []),
    ('sim', 'infrared->visible', 'BoT + SIM (same model)', 'configs/sim/synthetic_ir_bot.py', []),
    ('mcma', 'text->image', 'MCMA baseline', 'configs/mcma/ablation/synthetic_baseline.py', []),
    ('mcma', 'text->image', 'MCMA', 'configs/mcma/synthetic_text.py', []),
]


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


def run_one(name, config, options, work_dir, epochs, log_path):
    cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'), osp.join(ROOT, config),
           '--work-dir', work_dir]
    opts = list(options)
    if epochs:
        opts += [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}']
    if opts:
        cmd += ['--cfg-options'] + opts
    from tqdm import tqdm
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        bar = tqdm(total=epochs or None, desc=f'{name:<28}', unit='epoch', leave=True)
        seen = 0
        while proc.poll() is None:
            time.sleep(2)
            with open(log_path, errors='replace') as f:
                epochs_done = re.findall(r'Saving checkpoint at (\d+) epochs', f.read())
            if epochs_done and int(epochs_done[-1]) > seen:
                bar.update(int(epochs_done[-1]) - seen)
                seen = int(epochs_done[-1])
        bar.close()
    if proc.returncode != 0:
        with open(log_path, errors='replace') as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f'{name} failed (exit {proc.returncode}); log {log_path}:\n{tail}')
    return last_metrics(work_dir)


def format_table(rows):
    lines = ['| method | scenario | model | mAP | R1 | extra |', '|---|---|---|---|---|---|']
    for group, scenario, label, metrics in rows:
        if metrics is None:
            lines.append(f'| {group} | {scenario} | {label} | - | - | failed |')
            continue
        m = {k.split('/', 1)[-1] if k.count('/') == 1 and not k.startswith('sim') else k: v
             for k, v in metrics.items()}
        extra = ''
        if any(k.startswith('sim/') for k in m):
            extra = f"+SIM: mAP {m.get('sim/mAP', float('nan')):.1f} R1 {m.get('sim/R1', float('nan')):.1f}"
        lines.append(f"| {group} | {scenario} | {label} | {m.get('mAP', float('nan')):.1f} | "
                     f"{m.get('R1', float('nan')):.1f} | {extra} |")
    return '\n'.join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--only', nargs='+', choices=sorted({e[0] for e in EXPERIMENTS}))
    p.add_argument('--epochs', type=int, default=None, help='override every run\'s epochs')
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs/showcase'))
    args = p.parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    todo = [e for e in EXPERIMENTS if not args.only or e[0] in args.only]
    rows, start = [], time.time()
    for i, (group, scenario, label, config, opts) in enumerate(todo, 1):
        name = f'{group}-{scenario}-{label}'.replace(' ', '_').replace('>', '')
        wd = osp.join(args.work_dir, name)
        print(f'[{i}/{len(todo)}] {label} on {scenario} ({config})', flush=True)
        try:
            metrics = run_one(name, config, opts, wd, args.epochs, wd + '.log')
        except RuntimeError as e:
            print(e, file=sys.stderr)
            metrics = None
        rows.append((group, scenario, label, metrics))
    table = format_table(rows)
    print(f'\nasym-reid showcase on the synthetic world ({(time.time() - start) / 60:.1f} min)\n')
    print(table)
    with open(osp.join(args.work_dir, 'showcase.md'), 'w') as f:
        f.write(table + '\n')
    return rows


if __name__ == '__main__':
    main()
