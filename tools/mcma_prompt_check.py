"""Does a trained MCMA decoder read its caption? Masked-patch MSE of the test images
reconstructed with their own caption, another identity's caption and a zero prompt
(asym_plugins.methods.mcma.diagnostics; docs/mcma.md, "Investigations").

    python tools/mcma_prompt_check.py configs/mcma/synthetic_text.py work_dirs/.../epoch_16.pth

A user mistake (missing config, data, weights or checkpoint, a checkpoint of another model, a
model without a decoder) stops with the message and exit code 2; ``--debug`` shows the traceback.
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='the MCMA config the checkpoint was trained with')
    p.add_argument('checkpoint', help='checkpoint file (.pth)')
    p.add_argument('--seed', type=int, default=0, help='seed of the patch masks')
    p.add_argument('--max-batches', type=int, default=None,
                   help='evaluate only the first N test batches (default: all)')
    p.add_argument('--work-dir', default=None, help='folder for the runner log (default: a '
                   'prompt_check folder beside the checkpoint)')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                   help='override config keys, e.g. model.mask_ratio=0.9')
    add_debug_flag(p)
    return p.parse_args(argv)


def main(argv=None):
    from asym_plugins.methods.mcma.diagnostics import prompt_reliance
    args = parse_args(argv)
    runner = trained_runner(args.config, args.checkpoint, 'MCMAModel',
                            args.work_dir or os.path.join(os.path.dirname(args.checkpoint),
                                                          'prompt_check'), args.cfg_options)
    try:
        res = prompt_reliance(runner.model, runner.test_dataloader, seed=args.seed,
                              max_batches=args.max_batches)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    print(f"masked-patch MSE over {res['images']} test images (mask ratio "
          f'{runner.model.mask_ratio}, seed {args.seed}):')
    for name in ('own', 'other id', 'zero'):
        print(f'  prompt {name:9s} {res[name]:.4f}')
    print(f"  own caption better than another identity's on {res['own < other id']:.1f}% "
          'of the images')
    return res


if __name__ == '__main__':
    run_cli(main)
