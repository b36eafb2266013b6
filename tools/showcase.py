"""The asymmetric showcase: each method against its baseline on its own synthetic scenario.

Trains every pair with the same seeds and budget on the embedded synthetic world (nothing to
download), shows which runs are in flight and an ETA, and prints one Markdown table at the end:

    python tools/showcase.py                  # the default rows (about 16 min on 2 idle CPU cores)
    python tools/showcase.py --only sim mcma  # a subset of methods
    python tools/showcase.py --all            # also MoS on partial queries
    python tools/showcase.py --seeds 0 1 2    # three seeds: the table shows mean +- std
    python tools/showcase.py --epochs 3       # one budget for every run (its own work dir)

Each run is an ordinary ``tools/train.py CONFIG --epochs N`` job (the config's schedule scaled
to the showcase budget) in ``<work-dir>/<short name>-s<seed>`` with its log next to it, so any
row can be re-run or inspected on its own. ``--jobs`` runs (default: one per 2 CPU cores, at
least 2) train side by side, each with ``OMP_NUM_THREADS = cores // jobs``.

Determinism: every run sets ``randomness.seed`` and ``randomness.deterministic=True`` and a fixed
thread count, so the same command prints the same table again on the same machine (another CPU
or thread count may differ in the last digits). ``showcase.json`` holds every run's metrics;
``--render FILE.json`` prints the table of such a file (the README's table is rendered from the
committed ``docs/results/showcase.json``).
"""
import argparse
import glob
import json
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import List, NamedTuple, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from asym_plugins.engine.cli import (  # noqa: E402
    ConfigError,
    MissingInputError,
    add_debug_flag,
    run_cli,
)


class Row(NamedTuple):
    """One showcase row. ``cost``: wall minutes per epoch measured with 2 runs side by side on
    a 2-core CPU (used for the ETA and to start the longest runs first). ``rerank``: extra
    table rows ``(label, metric prefix)`` read from the same run (re-ranking hooks). ``data``:
    ``tools/make_synthetic.py`` arguments of the on-disk world the config reads (written before
    training when missing; the other rows render the embedded world in memory)."""
    method: str
    scenario: str
    label: str
    name: str
    config: str
    options: List[str]
    epochs: int
    default: bool
    cost: float
    rerank: Tuple[Tuple[str, str], ...] = ()
    data: Tuple[str, ...] = ()


EXPERIMENTS = [
    Row('mos', 'occluded', 'BoT baseline', 'mos-occ-bot',
        'configs/mos/ablation/baseline_synthetic_occluded.py', [], 15, True, 0.22),
    Row('mos', 'occluded', 'MoS', 'mos-occ-mos', 'configs/mos/synthetic_occluded.py', [], 15,
        True, 0.245),
    Row('mos', 'partial', 'BoT baseline', 'mos-par-bot',
        'configs/mos/ablation/baseline_synthetic_partial.py', [], 15, False, 0.24),
    Row('mos', 'partial', 'MoS', 'mos-par-mos', 'configs/mos/synthetic_partial.py', [], 15,
        False, 0.24),
    Row('sap', 'occluded', 'ViT baseline', 'sap-occ-vit', 'configs/sap/synthetic_occluded.py',
        ['model.patch_loss=None', 'model.proxy=None'], 24, True, 0.15),
    Row('sap', 'occluded', 'SAP', 'sap-occ-sap', 'configs/sap/synthetic_occluded.py', [], 24,
        True, 0.19),
    Row('sim', 'infrared->visible', 'BoT, then + SIM (same model)', 'sim-ir-bot',
        'configs/sim/synthetic_ir_bot.py', [], 25, True, 0.245),
    Row('mcma', 'text->image', 'MCMA baseline', 'mcma-text-base',
        'configs/mcma/ablation/synthetic_baseline.py', [], 16, True, 0.225),
    Row('mcma', 'text->image', 'MCMA', 'mcma-text-mcma', 'configs/mcma/synthetic_text.py', [],
        16, True, 0.29),
]

_SAP = 'configs/sap/synthetic_occluded.py'
_MCMA = 'configs/mcma/ablation/synthetic_'
_SIM_ROWS = tuple((f'{label}, {values}', f'{prefix}{part}')
                  for prefix, values in (('sim', 'released values'), ('simfit', 'n_graph 8, K 4, '
                                                                         'k_q 8, k_g 8'))
                  for label, part in (('+ graph inference', '_graph'),
                                      ('+ mutual-NN inference', '_mutual'), ('+ SIM', '')))
_SIM_SYSU_ROWS = (('+ graph inference, released values', 'sim_graph'),
                  ('+ mutual-NN inference, released values', 'sim_mutual'),
                  ('+ SIM, released values', 'sim'),
                  ('+ SIM, float16 distances (as the released eval_sysu.py)', 'sim_f16'))
#: the infrared world written in the SYSU-MM01 layout with a multi-shot gallery pool (~30 images
#: per identity in a 10-shot gallery, as SYSU-MM01); configs/sim/synthetic_sysu_bot.py reads it
SYSU_DATA = ('--layout', 'sysu_mm01', '--out', 'data/synthetic', '--img-size', '128', '64',
             '--gallery-imgs-per-id', '40', '48')
#: ``--ablation``: each method's ablation table (the thesis' rows) on its synthetic twin, with
#: the showcase's budgets; the first and last rows of MoS, SAP and MCMA are the showcase's pair,
#: SIM's first row is the showcase's SIM row (rows marked "investigation" are ours).
ABLATIONS = [
    Row('mos', 'occluded', 'BoT baseline', 'mos-occ-bot',
        'configs/mos/ablation/baseline_synthetic_occluded.py', [], 15, True, 0.22),
    Row('mos', 'occluded', 'MoS w/o conflict penalty', 'mos-occ-nocp',
        'configs/mos/ablation/synthetic_occluded_nocp.py', [], 15, True, 0.245),
    Row('mos', 'occluded', 'MoS', 'mos-occ-mos', 'configs/mos/synthetic_occluded.py', [], 15,
        True, 0.245),
    Row('sap', 'occluded', 'ViT baseline', 'sap-occ-vit', _SAP,
        ['model.patch_loss=None', 'model.proxy=None'], 24, True, 0.15),
    Row('sap', 'occluded', '+ patch', 'sap-occ-patch', _SAP, ['model.proxy=None'], 24, True,
        0.17),
    Row('sap', 'occluded', '+ proxy', 'sap-occ-proxy', _SAP, ['model.patch_loss=None'], 24,
        True, 0.18),
    Row('sap', 'occluded', 'w/o MAPR', 'sap-occ-nomapr', _SAP, ['model.proxy.mapr=False'], 24,
        True, 0.19),
    Row('sap', 'occluded', 'w/o SSD', 'sap-occ-nossd', _SAP, ['model.ssd=None'], 24, True, 0.19),
    Row('sap', 'occluded', 'teacher: rules', 'sap-occ-rule', _SAP,
        ['custom_hooks.1.teacher.type=RuleTeacher'], 24, True, 0.19),
    Row('sap', 'occluded', 'teacher: noisy masks', 'sap-occ-noisy', _SAP,
        ['custom_hooks.1.teacher.type=NoisyMaskTeacher',
         'custom_hooks.1.teacher.teacher.type=SampleMaskTeacher'], 24, True, 0.19),
    # investigation, not a thesis row: SSD's default temperature (L) drops background and person
    # patches at nearly the same rate (docs/sap.md); a sharper softmax (L / 10, L = 50 patches)
    Row('sap', 'occluded', 'SAP, SSD temperature L/10', 'sap-occ-ssdt5', _SAP,
        ['model.ssd.temperature=5.0'], 24, True, 0.19),
    Row('sap', 'occluded', 'SAP', 'sap-occ-sap', _SAP, [], 24, True, 0.19),
    Row('sim', 'infrared->visible', 'BoT', 'sim-ir-abl',
        'configs/sim/ablation/synthetic_ir_bot_components.py', [], 25, True, 0.26, _SIM_ROWS),
    Row('sim', 'infrared->visible, SYSU-MM01 layout', 'BoT', 'sim-sysu-abl',
        'configs/sim/synthetic_sysu_bot.py', [], 40, True, 0.26, _SIM_SYSU_ROWS, SYSU_DATA),
    Row('mcma', 'text->image', 'MCMA baseline', 'mcma-text-base', _MCMA + 'baseline.py', [], 16,
        True, 0.225),
    Row('mcma', 'text->image', '+ shared decoder', 'mcma-text-dec', _MCMA + 'decoder.py', [], 16,
        True, 0.25),
    Row('mcma', 'text->image', '+ self', 'mcma-text-self', _MCMA + 'self.py', [], 16, True,
        0.27),
    Row('mcma', 'text->image', '+ self + cross', 'mcma-text-selfcross', _MCMA + 'self_cross.py',
        [], 16, True, 0.28),
    Row('mcma', 'text->image', '+ bisim', 'mcma-text-bisim', _MCMA + 'bisim.py', [], 16, True,
        0.26),
    Row('mcma', 'text->image', '+ self + bisim', 'mcma-text-selfbisim',
        _MCMA + 'self_bisim.py', [], 16, True, 0.28),
    # investigation, not a thesis row: the decoder barely reads the caption at mask ratio 0.75
    # (docs/mcma.md); does a higher ratio, fewer visible patches, make it?
    Row('mcma', 'text->image', 'MCMA (all), mask ratio 0.9', 'mcma-text-mask90',
        'configs/mcma/synthetic_text.py', ['model.mask_ratio=0.9'], 16, True, 0.29),
    # investigation: or a decoder with the capacity to reconstruct (4 blocks instead of 2)? The
    # decoder is also in the matching path, so its own row at depth 4 is the reference
    Row('mcma', 'text->image', '+ shared decoder, depth 4', 'mcma-text-dec-d4',
        _MCMA + 'decoder.py', ['model.decoder.depth=4'], 16, True, 0.28),
    Row('mcma', 'text->image', 'MCMA (all), decoder depth 4', 'mcma-text-mcma-d4',
        'configs/mcma/synthetic_text.py', ['model.decoder.depth=4'], 16, True, 0.32),
    Row('mcma', 'text->image', 'MCMA (all)', 'mcma-text-mcma', 'configs/mcma/synthetic_text.py',
        [], 16, True, 0.29),
]
#: Showcase rows whose ablation run has another name (same model and schedule; the ablation
#: run logs more re-ranked variants).
ABLATION_ALIASES = {'sim-ir-bot': 'sim-ir-abl'}
_TRAIN_LINE = re.compile(r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]')


def last_metrics(work_dir):
    """The last validation record MMEngine's LocalVisBackend wrote under ``work_dir``, without
    its wall-clock entries (``time``, ``data_time``)."""
    found = None
    for dirpath, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(dirpath, 'scalars.json')) as f:
                for line in f:
                    rec = json.loads(line)
                    if any(k.split('/')[-1] in ('mAP', 'R1') for k in rec):
                        found = {k: v for k, v in rec.items()
                                 if k.split('/')[-1] not in ('time', 'data_time')}
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


def run_one(run, threads):
    """Train one run with ``tools/train.py``; returns its last validation metrics.

    Raises ``RuntimeError`` with the log's tail when the run fails."""
    cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'), osp.join(ROOT, run['config']),
           '--work-dir', run['work_dir'], '--epochs', str(run['epochs']), '--cfg-options',
           f"randomness.seed={run['seed']}", 'randomness.deterministic=True', *run['options']]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               CUBLAS_WORKSPACE_CONFIG=':4096:8', PYTHONHASHSEED=str(run['seed']))
    with open(run['log'], 'w') as log:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        with open(run['log'], errors='replace') as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f"{run['id']} failed (exit {proc.returncode}); log {run['log']}:\n"
                           f'{tail}')
    return last_metrics(run['work_dir'])


def _metric(metrics, name):
    for key, value in metrics.items():
        if key == name or (key.endswith('/' + name) and not key.startswith('sim/')):
            return value
    return float('nan')


def _cell(values):
    """``mean`` for one seed, ``mean +- std`` (sample std) for several; '' when absent."""
    values = [v for v in values if v is not None]
    if not values:
        return ''
    if len(values) == 1:
        return f'{values[0]:.1f}'
    return f'{statistics.mean(values):.1f} +- {statistics.stdev(values):.1f}'


def format_table(results):
    """Markdown table of a results list (``showcase.json``'s ``runs``): one line per row,
    R1 before mAP, seeds pooled (mean +- std over seeds when there are several)."""
    lines = ['| method | scenario | model | epochs | seeds | R1 | mAP | + SIM R1 | + SIM mAP |',
             '|---|---|---|---:|---|---:|---:|---:|---:|']
    groups = {}
    for r in results:
        groups.setdefault((r['method'], r['scenario'], r['label'], r['epochs']), []).append(r)
    for (method, scenario, label, epochs), runs in groups.items():
        seeds = ', '.join(str(r['seed']) for r in runs)
        if any(r['metrics'] is None for r in runs):
            lines.append(f'| {method} | {scenario} | {label} | {epochs} | {seeds} | failed | '
                         '| | |')
            continue
        ms = [r['metrics'] for r in runs]
        cells = [_cell([_metric(m, 'R1') for m in ms]), _cell([_metric(m, 'mAP') for m in ms]),
                 _cell([m.get('sim/R1') for m in ms]), _cell([m.get('sim/mAP') for m in ms])]
        lines.append(f'| {method} | {scenario} | {label} | {epochs} | {seeds} | '
                     + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _gain_cell(rows, base, pre, key):
    """Paired gain over the table's first row: ``mean +- std`` over the seeds both have of
    ``row - first row`` (one seed: the difference); '' when no seed is shared."""
    first = {r['seed']: _metric(r['metrics'], key) for r in base}
    values = [(r['seed'], r['metrics'].get(pre + key) if pre else _metric(r['metrics'], key))
              for r in rows]
    diffs = [v - first[seed] for seed, v in values if v is not None and seed in first]
    if not diffs:
        return ''
    if len(diffs) == 1:
        return f'{diffs[0]:+.1f}'
    return f'{statistics.mean(diffs):+.1f} +- {statistics.stdev(diffs):.1f}'


def format_ablation(results, method=None):
    """One Markdown table per method of an ``ablation.json``'s ``runs`` (or only ``method``'s):
    R1 / mAP / mINP, seeds pooled (mean +- std), a row's re-ranked variants (``rerank``) as
    rows of their own, and each row's R1 / mAP gain over the table's first row paired by seed
    (mean +- std of the per-seed differences: the seed-to-seed spread of a gain, which is
    smaller than that of the values when the seeds move both rows alike)."""
    tables, groups, first = {}, {}, {}
    for r in results:
        if method is not None and r['method'] != method:
            continue
        groups.setdefault((r['method'], r['scenario'], r['label'], r['epochs']), []).append(r)
    for (method, scenario, label, epochs), runs in groups.items():
        lines = tables.setdefault((method, scenario), [
            f'{method} ({scenario}), R1 / mAP / mINP in %; gains over the first row paired '
            'by seed:', '',
            '| model | epochs | seeds | R1 | mAP | mINP | gain R1 | gain mAP |',
            '|---|---:|---|---:|---:|---:|---:|---:|'])
        seeds = ', '.join(str(r['seed']) for r in runs)
        if any(r['metrics'] is None for r in runs):
            lines.append(f'| {label} | {epochs} | {seeds} | failed | | | | |')
            continue
        base = first.setdefault((method, scenario), runs)
        variants = [(label, '')] + [(f'{label} {lab}', pre + '/')
                                    for lab, pre in runs[0].get('rerank') or ()]
        for name, pre in variants:
            cells = [_cell([r['metrics'].get(pre + k) if pre else _metric(r['metrics'], k)
                            for r in runs]) for k in ('R1', 'mAP', 'mINP')]
            if runs is base and not pre:
                cells += ['-', '-']
            else:
                cells += [_gain_cell(runs, base, pre, k) for k in ('R1', 'mAP')]
            lines.append(f'| {name} | {epochs} | {seeds} | ' + ' | '.join(cells) + ' |')
    return '\n\n'.join('\n'.join(lines) for lines in tables.values())


def showcase_from_ablation(doc):
    """A showcase results document made from an ``ablation.json``: every default showcase row
    whose run (same config, options and epochs) the ablation trained, with all its seeds."""
    runs = []
    for e in EXPERIMENTS:
        if not e.default:
            continue
        name = ABLATION_ALIASES.get(e.name, e.name)
        found = [r for r in doc['runs'] if r['name'] == name]
        for r in found:
            if (r['options'], r['epochs']) != (list(e.options), e.epochs) or (
                    name == e.name and r['config'] != e.config):
                raise ConfigError(f"ablation run {name} (seed {r['seed']}) is not the showcase "
                                  f"row {e.name}: config / options / epochs differ")
            runs.append(dict(r, label=e.label, name=e.name, config=e.config))
    keys = ('command', 'minutes', 'jobs', 'threads_per_run', 'cpu_count', 'machine', 'python',
            'torch')
    out = {k: doc.get(k) for k in keys}
    out['note'] = (f"rows taken from the ablation run ({doc.get('command')}); the SIM row's run "
                   'is configs/sim/ablation/synthetic_ir_bot_components.py: the same model and '
                   'schedule as configs/sim/synthetic_ir_bot.py, with more re-ranked variants '
                   'logged')
    out['runs'] = sorted(runs, key=lambda r: ([e.name for e in EXPERIMENTS].index(r['name']),
                                              r['seed']))
    return out


def render(results):
    """The table(s) of a results document (showcase.json or ablation.json)."""
    return (format_ablation if results.get('ablation') else format_table)(results['runs'])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--only', nargs='+',
                   choices=sorted({e.method for e in EXPERIMENTS + ABLATIONS}),
                   help='methods to run (default: all)')
    p.add_argument('--all', action='store_true', help='also the rows left out by default')
    p.add_argument('--epochs', type=int, default=None,
                   help="one budget for every run instead of each row's showcase budget")
    p.add_argument('--seeds', type=int, nargs='+', default=[0],
                   help='seeds to run every row with (default: 0)')
    p.add_argument('--jobs', type=int, default=None,
                   help='runs trained side by side (default: max(2, cores // 2))')
    p.add_argument('--work-dir', default=None,
                   help='default: work_dirs/showcase, or work_dirs/showcase_e<N> with --epochs')
    p.add_argument('--ablation', action='store_true',
                   help="each method's ablation table (ABLATIONS) instead of the showcase pairs; "
                        'default work dir work_dirs/ablation')
    p.add_argument('--resume', action='store_true',
                   help='reuse runs of the work dir that finished (delete a run folder to retrain '
                        'it); the others are trained from the start')
    p.add_argument('--collect', action='store_true',
                   help='train nothing: tabulate the runs of the plan that finished in the work '
                        'dir (e.g. after an interruption); the others are left out')
    p.add_argument('--render', metavar='JSON',
                   help='only print the table(s) of a showcase.json / ablation.json')
    p.add_argument('--from-ablation', metavar='JSON',
                   help='write <work-dir>/showcase.json (and .md) from the showcase rows of an '
                        'ablation.json (they are the same runs), and print the table')
    add_debug_flag(p)
    return p.parse_args(argv)


def rows_of(args):
    return ABLATIONS if getattr(args, 'ablation', False) else EXPERIMENTS


def plan_runs(args):
    """The runs to train: seed by seed in the order given, longest first within a seed (so that
    side-by-side lanes end together and an interrupted table has whole seeds)."""
    todo = [e for e in rows_of(args)
            if (not args.only or e.method in args.only) and (args.all or e.default or args.only)]
    runs = []
    for e in todo:
        for seed in args.seeds:
            epochs = args.epochs or e.epochs
            run_id = f'{e.name}-s{seed}'
            runs.append(dict(method=e.method, scenario=e.scenario, label=e.label, name=e.name,
                             id=run_id, seed=seed, config=e.config, options=list(e.options),
                             epochs=epochs, minutes=epochs * e.cost,
                             work_dir=osp.join(args.work_dir, run_id),
                             log=osp.join(args.work_dir, run_id + '.log'),
                             rerank=[list(x) for x in e.rerank], data=list(e.data)))
    return sorted(runs, key=lambda r: (args.seeds.index(r['seed']), -r['minutes']))


def _world_of(data_args):
    """What ``tools/make_synthetic.py DATA_ARGS`` writes: ``(summary path, world settings)``
    (the settings as the summary's ``world`` entry records them), read with that tool's own
    argument parser."""
    from make_synthetic import parse_args as synthetic_args
    from make_synthetic import world_sizes

    from asym_plugins.data.synthetic.writer import LAYOUT_FOLDERS
    a = synthetic_args(list(data_args))
    want = dict(seed=a.seed, **{k: list(v) if isinstance(v, tuple) else v
                                for k, v in world_sizes(a).items()})
    return osp.join(ROOT, a.out, LAYOUT_FOLDERS[a.layout] + '.summary.json'), want


def ensure_data(runs):
    """Write the on-disk worlds the planned runs read (``Row.data``) when they are missing; a
    folder written with other settings stops the showcase (it would train on another world)."""
    for data_args in dict.fromkeys(tuple(r['data']) for r in runs if r.get('data')):
        summary, want = _world_of(data_args)
        folder = osp.relpath(summary[:-len('.summary.json')], ROOT)
        if osp.isfile(summary):
            with open(summary) as f:
                got = json.load(f).get('world') or {}
            if any(got.get(k) != v for k, v in want.items()):
                had = json.dumps(got) if got else 'not recorded'
                raise ConfigError(
                    f'{folder} was written with other settings ({had}) '
                    f'than the showcase needs ({json.dumps(want)}); delete it (rm -r {folder} '
                    f'{folder}.summary.json) and the showcase writes it again')
            continue
        cmd = [sys.executable, osp.join(ROOT, 'tools/make_synthetic.py'), *data_args,
               '--no-progress']
        print(f'writing {folder}: python tools/make_synthetic.py {" ".join(data_args)}',
              flush=True)
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f'make_synthetic failed (exit {proc.returncode}):\n'
                               f'{proc.stdout[-1000:]}{proc.stderr[-2000:]}')


def finished_metrics(run):
    """The metrics of a run that trained all its epochs (``--resume``), else None."""
    if not osp.isfile(osp.join(run['work_dir'], f"epoch_{run['epochs']}.pth")):
        return None
    metrics = last_metrics(run['work_dir'])
    return metrics if metrics and metrics.get('step') == run['epochs'] else None


class Progress:
    """Epochs done per run (read from the logs), the runs in flight and a cost-weighted ETA."""

    def __init__(self, runs, lanes_minutes, reused=()):
        self.runs, self.planned = runs, lanes_minutes
        self.reused = set(reused)  # --resume: finished before, not part of the ETA
        self.finished = set()
        self.start = time.time()

    def done(self, run):
        if run['id'] in self.finished:
            return run['epochs']
        return min(run['epochs'], epochs_done(run['log']))

    def line(self, started):
        """``(epochs done, text)``: ETA from the measured speed against the cost table (the
        plan until 3% of the work is done), then the runs in flight with their epochs."""
        elapsed = (time.time() - self.start) / 60
        todo = [r for r in self.runs if r['id'] not in self.reused]
        work = sum(r['minutes'] for r in todo) or 1.0
        frac = sum(self.done(r) * r['minutes'] / r['epochs'] for r in todo) / work
        eta = max(self.planned - elapsed, 0) if frac < 0.03 else elapsed * (1 - frac) / frac
        active = [r for r in self.runs if r['id'] in started and r['id'] not in self.finished]
        flight = ', '.join(f"{r['id']} {self.done(r):.1f}/{r['epochs']}"
                           if self.done(r) else f"{r['id']} starting" for r in active)
        return (sum(self.done(r) for r in self.runs),
                f'ETA {eta:.0f} min | running: {flight or "-"}')


def next_steps(work_dir, runs):
    """Commands to try on the showcase's outputs (the SIM run when it was trained)."""
    sim = [r for r in runs if r['method'] == 'sim' and r.get('metrics')]
    run = sim[0] if sim else next((r for r in runs if r.get('metrics')), None)
    if run is None:
        return []
    ckpts = glob.glob(osp.join(run['work_dir'], 'epoch_*.pth'))
    if not ckpts:
        return []
    ckpt = max(ckpts, key=lambda p: int(re.findall(r'epoch_(\d+)', p)[-1]))
    rel = osp.relpath(run['work_dir'], ROOT)
    ckpt, feats = osp.relpath(ckpt, ROOT), osp.join(rel, 'feats.npz')
    steps = [f"python tools/test.py {run['config']} {ckpt} --work-dir {rel}/test "
             f'--save-features {feats}']
    if run['method'] == 'sim':
        steps += [f'python tools/rerank.py {feats} --preset sysu_mm01',
                  f"python tools/visualize.py sim --config {run['config']} --checkpoint {ckpt} "
                  f'--out {rel}/sim.png']
    else:
        steps += [f"python tools/visualize.py ranklist --config {run['config']} "
                  f'--checkpoint {ckpt} --out {rel}/ranklist.png',
                  f'python tools/summarize.py {osp.relpath(work_dir, ROOT)}']
    return steps


def main(argv=None):
    from tqdm import tqdm
    args = parse_args(argv)
    if args.render:
        if not osp.isfile(args.render):
            raise MissingInputError(f'--render {args.render}: no such results file (a '
                                    'showcase.json / ablation.json written by this tool)')
        with open(args.render) as f:
            try:
                doc = json.load(f)
            except json.JSONDecodeError as e:
                raise ConfigError(f'--render {args.render}: not a JSON results file ({e})')
        if not isinstance(doc, dict) or 'runs' not in doc:
            raise ConfigError(f'--render {args.render}: no "runs" list; give a showcase.json / '
                              'ablation.json written by this tool')
        print(render(doc))
        return []
    if args.from_ablation:
        if not osp.isfile(args.from_ablation):
            raise MissingInputError(f'--from-ablation {args.from_ablation}: no such file')
        with open(args.from_ablation) as f:
            doc = showcase_from_ablation(json.load(f))
        work_dir = args.work_dir or osp.join(ROOT, 'work_dirs/showcase')
        os.makedirs(work_dir, exist_ok=True)
        with open(osp.join(work_dir, 'showcase.json'), 'w') as f:
            json.dump(doc, f, indent=1)
        with open(osp.join(work_dir, 'showcase.md'), 'w') as f:
            f.write(format_table(doc['runs']) + '\n')
        print(format_table(doc['runs']))
        return doc['runs']
    if len(set(args.seeds)) != len(args.seeds):
        raise ConfigError(f'--seeds {" ".join(map(str, args.seeds))}: a seed is repeated')
    kind = 'ablation' if args.ablation else 'showcase'
    if args.work_dir is None:
        suffix = f'_e{args.epochs}' if args.epochs else ''
        args.work_dir = osp.join(ROOT, f'work_dirs/{kind}{suffix}')
    cores = os.cpu_count() or 2
    jobs = args.jobs or max(2, cores // 2)
    threads = max(1, cores // jobs)
    os.makedirs(args.work_dir, exist_ok=True)
    runs = plan_runs(args)
    if args.collect:  # tabulate what finished, train nothing
        runs = [dict(r, metrics=m) for r in runs if (m := finished_metrics(r))]
        if not runs:
            raise MissingInputError(f'--collect: no finished run of this plan in '
                                    f'{args.work_dir}')
        args.resume = True
    else:
        ensure_data(runs)
    reused = {r['id'] for r in runs if finished_metrics(r)} if args.resume else set()
    lanes = [0.0] * jobs
    for r in runs:
        if r['id'] not in reused:
            lanes[lanes.index(min(lanes))] += r['minutes'] * 2 / jobs
    total = sum(r['epochs'] for r in runs)
    again = f' ({len(reused)} finished before, reused)' if reused else ''
    print(f'asym-reid {kind}: {len(runs)} runs{again}, {total} epochs in all, {jobs} side by '
          f'side ({threads} thread(s) each), about {max(lanes):.0f} min on 2 idle cores; runs '
          f'and logs in {args.work_dir}', flush=True)
    progress = Progress(runs, max(lanes), reused)
    started, failed = set(), []

    def job(run):
        started.add(run['id'])
        try:
            reused = finished_metrics(run) if args.resume else None
            run['metrics'] = reused or run_one(run, threads)
            m = run['metrics'] or {}
            status = f"R1 {_metric(m, 'R1'):.1f} mAP {_metric(m, 'mAP'):.1f}"
        except RuntimeError as e:
            tqdm.write(str(e), file=sys.stderr)
            run['metrics'] = None
            failed.append(run['id'])
            status = 'FAILED'
        progress.finished.add(run['id'])
        tqdm.write(f"[{(time.time() - progress.start) / 60:5.1f} min] {run['id']} "
                   f"({run['label']} on {run['scenario']}): {status}")

    class Bar(tqdm):
        """tqdm with a ``{status}`` field (its ``{postfix}`` always starts with ', ')."""
        status = ''

        @property
        def format_dict(self):
            return dict(super().format_dict, status=self.status)

    with Bar(total=total, unit='epoch', desc=kind,
             bar_format='{l_bar}{bar}| {n:.1f}/{total} epochs [{elapsed}] {status}') as bar:
        with ThreadPoolExecutor(jobs) as pool:
            futures = [pool.submit(job, r) for r in runs]
            while not all(f.done() for f in futures):
                time.sleep(2)
                bar.n, bar.status = progress.line(started)
                bar.refresh()
            bar.n, bar.status = total, 'done'
            bar.refresh()
    minutes = (time.time() - progress.start) / 60
    keys = ('method', 'scenario', 'label', 'name', 'seed', 'epochs', 'config', 'options',
            'rerank', 'metrics')
    names = [e.name for e in rows_of(args)]
    results = dict(
        command='python tools/showcase.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
        minutes=round(minutes, 1), jobs=jobs, threads_per_run=threads, cpu_count=cores,
        machine=platform.machine(), python=platform.python_version(),
        torch=__import__('torch').__version__,
        runs=[{k: r.get(k) for k in keys if k != 'rerank' or r.get(k)}
              for r in sorted(runs, key=lambda r: (names.index(r['name']), r['seed']))])
    if args.ablation:
        results['ablation'] = True
    table = render(results)
    with open(osp.join(args.work_dir, f'{kind}.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(args.work_dir, f'{kind}.json'), 'w') as f:
        json.dump(results, f, indent=1)
    print(f'\nasym-reid {kind} on the synthetic world ({minutes:.1f} min), R1 / mAP in %\n')
    print(table)
    rel = osp.relpath(args.work_dir, ROOT)
    print(f'\nTable: {rel}/{kind}.md; every run\'s metrics: {rel}/{kind}.json')
    print(f'Runs (config, checkpoints epoch_N.pth, TensorBoard events): {rel}/<run>/, '
          f'their logs: {rel}/<run>.log')
    steps = next_steps(args.work_dir, runs)
    if steps:
        print('Next, try on a trained run (copy and paste):')
        for step in steps:
            print('  ' + step)
    if failed:
        print(f"\nFAILED: {', '.join(failed)} (their logs: {rel}/<run>.log)", file=sys.stderr)
        raise SystemExit(1)
    return results['runs']


if __name__ == '__main__':
    run_cli(main)
