"""Print a Markdown table of the metrics logged in MMEngine work dirs (one row per run).

A *run* is a folder with MMEngine's timestamped log folders in it, i.e. the ``--work-dir`` of
``tools/train.py`` / ``tools/test.py`` (``work_dirs/<config name>`` by default):

* validation during training: ``<run>/<YYYYmmdd_HHMMSS>/vis_data/scalars.json``, one JSON object
  per line; metric lines carry ``step`` = the epoch (training lines carry ``loss`` and are
  ignored);
* ``tools/test.py``: ``<run>/<YYYYmmdd_HHMMSS>/<YYYYmmdd_HHMMSS>.json``; the line without
  ``step`` holds the test metrics.

torchreid runs of ``tools/torchreid_train.py`` (``<run>/results.json``) are read as well: one row
per evaluated model (``<run>:<name>``, e.g. ``sim:sim+sim`` for the SIM re-ranked one).

Metric columns are every metric found (``R1, R5, R10, mAP, mINP`` first, then protocol-specific
ones such as RegDB's ``v2t_R1``), with SIM's ``sim/...`` columns after the plain ones; choose
them with ``--metrics``. Rows are sorted by run name, so ``work_dirs/<method>/<dataset>`` reads
as a method x dataset table.

``--pivot METRIC`` prints one metric as a method x dataset grid instead: a run
``<root>/<method>/<dataset>`` becomes row ``<method>``, column ``<dataset>`` (a torchreid row
``<run>:<model>`` becomes row ``<model>``, column ``<run>``).

Examples::
    python tools/summarize.py work_dirs                        # every run below work_dirs
    python tools/summarize.py work_dirs --pivot mAP            # method x dataset, mAP
    python tools/summarize.py work_dirs/mos work_dirs/sap --metrics R1 mAP
    python tools/summarize.py work_dirs --epoch best --best-key mAP
    python tools/summarize.py work_dirs --source val           # ignore tools/test.py results
"""
import argparse
import json
import os
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from asym_plugins.engine.cli import MissingInputError, add_debug_flag, run_cli  # noqa: E402

TIMESTAMP = re.compile(r'^\d{8}_\d{6}$')
PREFERRED = ('R1', 'R5', 'R10', 'R20', 'mAP', 'mINP')
NOT_METRICS = {'step', 'epoch', 'iter', 'time', 'data_time', 'lr', 'memory', 'loss', 'base_lr'}
TORCHREID_KEYS = {'rank1': 'R1', 'rank5': 'R5', 'rank10': 'R10', 'rank20': 'R20'}


def _read_json_lines(path: str) -> List[dict]:
    """A file of one JSON object per line (MMEngine's scalars), or one JSON document."""
    with open(path) as f:
        text = f.read()
    try:
        doc = json.loads(text)
        return [doc] if isinstance(doc, dict) else [d for d in doc if isinstance(d, dict)]
    except json.JSONDecodeError:
        pass
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a killed run
    return records


def _metrics_of(record: dict) -> Dict[str, float]:
    return {k: float(v) for k, v in record.items()
            if k not in NOT_METRICS and not k.startswith('loss') and not k.startswith('acc')
            and isinstance(v, (int, float)) and not isinstance(v, bool)}


def read_run(run_dir: str) -> Dict[str, List[Tuple[Optional[int], Dict[str, float]]]]:
    """``{'val': [(epoch, metrics), ...], 'test': [(None, metrics), ...]}`` of one run, in the
    order of its timestamped folders (oldest first)."""
    out = {'val': [], 'test': []}
    for ts in sorted(d for d in os.listdir(run_dir)
                     if TIMESTAMP.match(d) and osp.isdir(osp.join(run_dir, d))):
        scalars = osp.join(run_dir, ts, 'vis_data', 'scalars.json')
        if osp.isfile(scalars):
            for rec in _read_json_lines(scalars):
                if 'loss' in rec or 'lr' in rec or 'step' not in rec:
                    continue
                m = _metrics_of(rec)
                if m:
                    out['val'].append((int(rec['step']), m))
        test_json = osp.join(run_dir, ts, f'{ts}.json')
        if osp.isfile(test_json):
            for rec in _read_json_lines(test_json):
                m = _metrics_of(rec)
                if m and 'step' not in rec:
                    out['test'].append((None, m))
    return out


def read_torchreid_run(path: str) -> Dict[str, Dict[str, float]]:
    """``results.json`` of tools/torchreid_train.py -> ``{model name: metrics}``."""
    with open(path) as f:
        doc = json.load(f)
    rows = {}
    for name, res in (doc.get('results') or {}).items():
        rows[name] = {TORCHREID_KEYS.get(k, k): float(v) for k, v in res.items()
                      if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return rows


def find_runs(root: str) -> List[str]:
    """Folders at or below ``root`` that hold timestamped MMEngine log folders or a torchreid
    ``results.json``."""
    runs = []
    for dirpath, dirnames, filenames in os.walk(root):
        if any(TIMESTAMP.match(d) for d in dirnames) or 'results.json' in filenames:
            runs.append(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not TIMESTAMP.match(d))
    return sorted(runs)


def select(records: List[Tuple[Optional[int], Dict[str, float]]], epoch: str,
           best_key: str) -> Optional[Tuple[Optional[int], Dict[str, float]]]:
    """The last record, the best one by ``best_key`` (ties: the later one), or that of epoch N."""
    if not records:
        return None
    if epoch == 'last':
        return records[-1]
    if epoch == 'best':
        keyed = [r for r in records if best_key in r[1]] or records
        best = keyed[0]
        for r in keyed[1:]:
            if r[1].get(best_key, float('-inf')) >= best[1].get(best_key, float('-inf')):
                best = r
        return best
    wanted = [r for r in records if r[0] == int(epoch)]
    return wanted[-1] if wanted else None


def order_metrics(names) -> List[str]:
    def key(name):
        plain = name.split('/', 1)[1] if name.startswith('sim/') else name
        base = plain.rsplit('_', 1)[-1] if '_' in plain else plain
        group = plain.rsplit('_', 1)[0] if '_' in plain else ''
        rank = PREFERRED.index(base) if base in PREFERRED else len(PREFERRED)
        return (name.startswith('sim/'), group, rank, plain)
    return sorted(set(names), key=key)


def collect(roots: List[str], source: str = 'auto', epoch: str = 'last',
            best_key: str = 'mAP') -> List[Tuple[str, str, Dict[str, float]]]:
    """``[(run name, where, metrics)]``; ``where`` is ``'test'`` or ``'epoch N'``."""
    rows = []
    for root in roots:
        if not osp.isdir(root):
            raise MissingInputError(f'{root!r} is not a folder (pass work dirs, e.g. work_dirs)')
        base = osp.dirname(osp.normpath(root))
        for run in find_runs(root):
            name = osp.relpath(run, base)
            if osp.isfile(osp.join(run, 'results.json')):
                for model, m in read_torchreid_run(osp.join(run, 'results.json')).items():
                    rows.append((f'{name}:{model}', 'test', m))
            recs = read_run(run)
            use = source
            if source == 'auto':
                use = 'test' if recs['test'] else 'val'
            chosen = select(recs[use], 'last' if use == 'test' else epoch, best_key)
            if chosen is None:
                continue
            where = 'test' if use == 'test' else f'epoch {chosen[0]}'
            rows.append((name, where, chosen[1]))
    return sorted(rows, key=lambda r: r[0])


def markdown_table(rows: List[Tuple[str, str, Dict[str, float]]],
                   metrics: Optional[List[str]] = None, digits: int = 1) -> str:
    if metrics is None:
        metrics = order_metrics(k for _, _, m in rows for k in m)
    lines = ['| run | from | ' + ' | '.join(metrics) + ' |',
             '|---|---|' + '---:|' * len(metrics)]
    for name, where, m in rows:
        cells = [f'{m[k]:.{digits}f}' if k in m else '-' for k in metrics]
        lines.append(f'| {name} | {where} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def pivot_table(rows: List[Tuple[str, str, Dict[str, float]]], metric: str,
                digits: int = 1) -> str:
    """One metric as a grid: rows = methods (the run's parent folder), columns = datasets (the
    run's folder); a cell without that run or metric is ``-``."""
    cells: Dict[Tuple[str, str], float] = {}
    methods: List[str] = []
    datasets: List[str] = []
    for name, _, m in rows:
        if ':' in name:  # torchreid: <run>:<model>
            dataset, method = name.rsplit(':', 1)
            dataset = osp.basename(dataset)
        else:
            parts = name.replace(os.sep, '/').split('/')
            method = parts[-2] if len(parts) > 1 else parts[-1]
            dataset = parts[-1]
        if metric not in m:
            continue
        cells[(method, dataset)] = m[metric]
        methods += [method] if method not in methods else []
        datasets += [dataset] if dataset not in datasets else []
    lines = [f'| {metric} | ' + ' | '.join(datasets) + ' |',
             '|---|' + '---:|' * len(datasets)]
    for method in methods:
        vals = [f'{cells[(method, d)]:.{digits}f}' if (method, d) in cells else '-'
                for d in datasets]
        lines.append(f'| {method} | ' + ' | '.join(vals) + ' |')
    return '\n'.join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Markdown table of the metrics in MMEngine work dirs.')
    p.add_argument('work_dirs', nargs='+', help='run folders or folders holding runs')
    p.add_argument('--epoch', default='last',
                   help="validation record to show: 'last' (default), 'best' or an epoch number")
    p.add_argument('--best-key', default='mAP', help="metric that picks --epoch best (mAP)")
    p.add_argument('--source', choices=['auto', 'val', 'test'], default='auto',
                   help='auto: tools/test.py results when a run has them, else validation')
    p.add_argument('--metrics', nargs='+', help='columns (default: every metric found)')
    p.add_argument('--digits', type=int, default=1, help='decimals (1)')
    p.add_argument('--pivot', metavar='METRIC',
                   help='print METRIC as a method x dataset grid (runs <method>/<dataset>)')
    add_debug_flag(p)
    args = p.parse_args(argv)
    if args.epoch not in ('last', 'best') and not args.epoch.isdigit():
        p.error(f"--epoch must be 'last', 'best' or an epoch number, not {args.epoch!r}")
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    rows = collect(args.work_dirs, args.source, args.epoch, args.best_key)
    if not rows:
        print(f'no logged metrics under {", ".join(args.work_dirs)} (expected '
              '<run>/<timestamp>/vis_data/scalars.json or <run>/<timestamp>/<timestamp>.json)',
              file=sys.stderr)
        sys.exit(1)
    if args.pivot:
        table = pivot_table(rows, args.pivot, args.digits)
    else:
        table = markdown_table(rows, args.metrics, args.digits)
    print(table)
    return table


if __name__ == '__main__':
    run_cli(main)
