"""SIM's plug-in table (docs/sim.md) from saved features of one or more base models.

For each ``NAME=FEATURES.npz`` (written by ``tools/test.py CONFIG CKPT --save-features``) and each
direction (infrared -> visible as saved, visible -> infrared with the sets swapped), prints
base, + graph inference only, + mutual-NN inference only, and + SIM (both), as one Markdown
table of mAP / R1. Every cell is a :mod:`tools.rerank` run with ``--components``::

    python tools/sim_table.py BoT=work_dirs/sim_ir_bot/feats.npz AGW=work_dirs/sim_ir_agw/feats.npz
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import rerank  # noqa: E402

from asym_plugins.engine.cli import ConfigError, add_debug_flag, run_cli  # noqa: E402

ROWS = (('base', None), ('+ graph inference', 'graph'), ('+ mutual-NN inference', 'mutual'),
        ('+ SIM', 'both'))
DIRECTIONS = (('IR->VIS', False), ('VIS->IR', True))
SYSU_GALLERY_PER_ID = 31   # 3010 multi-shot all-search gallery images / 96 identities


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('models', nargs='+', metavar='NAME=FEATURES.npz')
    p.add_argument('--protocol', choices=('market', 'sysu'), default='market',
                   help="'sysu' for real SYSU-MM01 features (IR->VIS only)")
    p.add_argument('--mode', choices=('official', 'equations'), default='official')
    p.add_argument('--preset', choices=('sysu_mm01', 'regdb'), default='sysu_mm01')
    p.add_argument('--scale-k', action='store_true',
                   help="scale the preset's k_q / k_g by gallery images per identity: the "
                        "released values suit SYSU-MM01's ~31 per identity (multi-shot "
                        "all-search); k = round(k_preset * m / 31), at least 1")
    p.add_argument('--device', default='cpu')
    add_debug_flag(p)
    return p.parse_args(argv)


def scaled_k(path: str, swap: bool, preset: str) -> List[str]:
    """``--k-q``/``--k-g`` arguments scaled to the gallery's images per identity."""
    from asym_plugins.evaluation.metrics.reid_metric import load_features_npz
    from asym_plugins.methods.sim import SIM_PRESETS
    feats = load_features_npz(path, swap=swap)
    per_id = len(feats['g_pids']) / len(set(feats['g_pids'].tolist()))
    hp = SIM_PRESETS[preset]
    k_q, k_g = (max(1, round(hp[k] * per_id / SYSU_GALLERY_PER_ID)) for k in ('k_q', 'k_g'))
    print(f'{path}{" (swapped)" if swap else ""}: {per_id:.1f} gallery images per identity '
          f'-> k_q {k_q}, k_g {k_g}')
    return ['--k-q', str(k_q), '--k-g', str(k_g)]


def table(args) -> Dict[str, Dict[str, Dict[str, Dict[str, float]]]]:
    """{model: {direction: {row: metrics}}}; also prints the Markdown table."""
    results: Dict = {}
    for item in args.models:
        if '=' not in item:
            raise ConfigError(f'expected NAME=FEATURES.npz, got {item!r}')
        name, path = item.split('=', 1)
        results[name] = {}
        for direction, swap in DIRECTIONS:
            if swap and args.protocol == 'sysu':
                continue
            cells = {}
            extra = scaled_k(path, swap, args.preset) if args.scale_k else []
            for row, components in ROWS:
                argv = extra + [path, '--protocol', args.protocol, '--mode', args.mode, '--preset',
                        args.preset, '--device', args.device,
                        '--components', components or 'both'] + (['--swap'] if swap else [])
                out = rerank.main(argv)
                cells[row] = out['before'] if components is None else out['after']
            results[name][direction] = cells
    directions = [d for d, s in DIRECTIONS if not (s and args.protocol == 'sysu')]
    print('\n| model | variant | ' + ' | '.join(f'{d} mAP | {d} R1' for d in directions) + ' |')
    print('| --- | --- | ' + ' | '.join('---: | ---:' for _ in directions) + ' |')
    for name, per_dir in results.items():
        for row, _ in ROWS:
            cells = ' | '.join(f'{per_dir[d][row]["mAP"]:.1f} | {per_dir[d][row]["R1"]:.1f}'
                               for d in directions)
            print(f'| {name} | {row} | {cells} |')
    return results


if __name__ == '__main__':
    run_cli(lambda argv: table(parse_args(argv)))
