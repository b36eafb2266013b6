"""Where does SAP's supervision drop (SSD) fall? Mean drop probability of background, person
and occluder patches of training images at one or more SSD temperatures
(asym_plugins.methods.sap.diagnostics; docs/sap.md, "Investigation").

    python tools/sap_ssd_check.py configs/sap/synthetic_occluded.py work_dirs/.../epoch_24.pth \
        --temperatures L 12.5 5 2.5

The regions come from the samples' exact part masks (the synthetic world). A user mistake
(missing config, data or checkpoint, a checkpoint of another model, samples without part
masks) stops with the message and exit code 2; ``--debug`` shows the traceback.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import asym_plugins  # noqa: E402,F401
from asym_plugins.engine.cli import (  # noqa: E402
    CfgOptionsAction,
    ConfigError,
    add_debug_flag,
    run_cli,
)
from asym_plugins.engine.launch import trained_runner  # noqa: E402


def _temperature(text):
    if text.upper() == 'L':
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give 'L' (the default t = number of "
                                         'patches) or a positive number') from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f'{text}: a temperature must be > 0')
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='the SAP config the checkpoint was trained with')
    p.add_argument('checkpoint', help='checkpoint file (.pth)')
    p.add_argument('--temperatures', nargs='+', type=_temperature, default=[None],
                   metavar='T', help="SSD temperatures: 'L' (default, the number of patches) "
                                     'or numbers')
    p.add_argument('--max-batches', type=int, default=6,
                   help='training batches to read (default 6)')
    p.add_argument('--work-dir', default=None, help='folder for the runner log (default: an '
                   'ssd_check folder beside the checkpoint)')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                   help='override config keys')
    add_debug_flag(p)
    return p.parse_args(argv)


def main(argv=None):
    from asym_plugins.methods.sap.diagnostics import REGIONS, ssd_region_rates
    args = parse_args(argv)
    runner = trained_runner(args.config, args.checkpoint, 'SAPModel',
                            args.work_dir or os.path.join(os.path.dirname(args.checkpoint),
                                                          'ssd_check'), args.cfg_options)
    try:
        res = ssd_region_rates(runner.model, runner.train_dataloader, args.temperatures,
                               max_batches=args.max_batches)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    n = res['patches']
    print(f'SSD drop probability (%) per region, {sum(n.values())} patches of '
          f'{args.max_batches} training batches (' +
          ', '.join(f'{k} {v}' for k, v in n.items()) + '):')
    print('| temperature | ' + ' | '.join(REGIONS) + ' | at 1 |')
    print('|---|' + '---:|' * (len(REGIONS) + 1))
    for label, row in res.items():
        if label != 'patches':
            print(f'| {label} | ' + ' | '.join(f'{row[k]:.1f}' for k in REGIONS)
                  + f" | {row['saturated']:.1f} |")
    return res


if __name__ == '__main__':
    run_cli(main)
