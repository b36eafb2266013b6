"""Train and test every RegDB trial and report mean +- std over trials, as the papers do.

RegDB's protocol trains one model per trial (1..10: a fixed 206/206 identity split each) and
tests it on that trial's test identities, both directions (visible -> thermal ``v2t_*`` and
thermal -> visible ``t2v_*``); papers report the mean over the 10 trials. This tool runs
``tools/train.py`` once per trial on a copy of CONFIG whose every ``RegDB`` dataset is switched
to that trial (written to ``<work-dir>/trial<t>/config.py``), reads each run's last validation
record and prints one Markdown table (mean +- sample std, per-trial values in the JSON):

    python tools/regdb_trials.py configs/sim/regdb_agw.py
    python tools/regdb_trials.py configs/sim/regdb_agw.py --trials 1 2 3 --epochs 40
    python tools/regdb_trials.py CONFIG --collect-only      # re-read finished runs

SYSU-MM01 needs no such tool: its 10 random galleries are drawn inside ``SYSUMetric``.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
from typing import Dict, List

from mmengine.config import Config, DictAction

from asym_plugins.engine.cli import ConfigError, MissingInputError, add_debug_flag, run_cli

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import summarize  # noqa: E402

REGDB_TYPES = ('RegDB', 'asym.RegDB')


def set_trial(node, trial: int) -> int:
    """Set ``trial`` on every RegDB dataset dict under ``node``; returns how many were set."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') in REGDB_TYPES:
            node['trial'] = trial
            count += 1
        for value in node.values():
            count += set_trial(value, trial)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += set_trial(value, trial)
    return count


def trial_config(config: str, trial: int, options=None) -> Config:
    cfg = Config.fromfile(config)
    if options:
        cfg.merge_from_dict(options)
    data = cfg.to_dict()
    if set_trial(data, trial) == 0:
        raise ConfigError(f'{config} has no RegDB dataset (type {REGDB_TYPES[0]!r}); this '
                         'tool runs the 10 RegDB trials of a RegDB config')
    return Config(data, filename=config)


def summarize_trials(per_trial: Dict[int, Dict[str, float]]) -> Dict[str, Dict[str, float]]:
    """``{metric: {'mean', 'std', 'n'}}`` over the trials that report the metric (std: sample
    standard deviation, 0 for one trial)."""
    out = {}
    for key in summarize.order_metrics({k for m in per_trial.values() for k in m}):
        values = [m[key] for m in per_trial.values() if key in m]
        out[key] = dict(mean=statistics.mean(values), n=len(values),
                        std=statistics.stdev(values) if len(values) > 1 else 0.0)
    return out


def format_table(stats: Dict[str, Dict[str, float]], metrics: List[str]) -> str:
    rows = ['| metric | mean | std | trials |', '|---|---:|---:|---:|']
    for key in metrics:
        if key in stats:
            s = stats[key]
            rows.append(f"| {key} | {s['mean']:.2f} | {s['std']:.2f} | {s['n']} |")
    return '\n'.join(rows)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='a RegDB config, e.g. configs/sim/regdb_agw.py')
    p.add_argument('--trials', type=int, nargs='+', default=list(range(1, 11)),
                   help='trials to run (default: 1..10)')
    p.add_argument('--epochs', type=int, help="passed to tools/train.py (schedule scaled)")
    p.add_argument('--work-dir', help='default: work_dirs/<method>/<config name>_trials')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    p.add_argument('--collect-only', action='store_true',
                   help='do not train: read the runs already in the work dir')
    p.add_argument('--metrics', nargs='+', default=None,
                   help='rows of the table (default: R1 and mAP of both directions, plain and '
                        'with SIM when present)')
    add_debug_flag(p)
    return p.parse_args(argv)


def main(argv=None) -> Dict[str, Dict[str, float]]:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise MissingInputError(f'config {args.config!r} does not exist')
    bad = [t for t in args.trials if not 1 <= t <= 10]
    if bad:
        raise ConfigError(f'--trials {bad}: RegDB trials are 1..10')
    trial_config(args.config, args.trials[0], args.cfg_options)  # refuses a non-RegDB config
    name = osp.splitext(osp.basename(args.config))[0]
    method = osp.basename(osp.dirname(osp.abspath(args.config)))
    work_dir = args.work_dir or osp.join('work_dirs', method, f'{name}_trials')
    per_trial = {}
    for t in args.trials:
        run_dir = osp.join(work_dir, f'trial{t}')
        if not args.collect_only:
            os.makedirs(run_dir, exist_ok=True)
            cfg_path = osp.join(run_dir, 'config.py')
            trial_config(args.config, t, args.cfg_options).dump(cfg_path)
            cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'), cfg_path,
                   '--work-dir', run_dir]
            if args.epochs:
                cmd += ['--epochs', str(args.epochs)]
            print(f'[regdb_trials] trial {t}: {" ".join(cmd)}', flush=True)
            proc = subprocess.run(cmd, cwd=os.getcwd())
            if proc.returncode != 0:
                raise SystemExit(f'error: trial {t} failed (exit {proc.returncode}); its logs '
                                 f'are in {run_dir}')
        records = summarize.read_run(run_dir)['val'] if osp.isdir(run_dir) else []
        last = summarize.select(records, 'last', 'mAP')
        if last is None:
            raise MissingInputError(f'no validation record in {run_dir} (train that trial, or '
                             'drop it from --trials)')
        per_trial[t] = last[1]
    stats = summarize_trials(per_trial)
    metrics = args.metrics or [k for k in stats if k.rsplit('_', 1)[-1] in ('R1', 'mAP')]
    table = format_table(stats, metrics)
    print(f'\nRegDB, {len(per_trial)} trial(s) {sorted(per_trial)}: mean +- std\n\n{table}')
    with open(osp.join(work_dir, 'trials.json'), 'w') as f:
        json.dump(dict(config=args.config, trials=per_trial, summary=stats), f, indent=1)
    print(f'\nper-trial values: {osp.join(work_dir, "trials.json")}')
    return stats


if __name__ == '__main__':
    run_cli(main)
