"""Write the synthetic world in the exact on-disk layout of a real Re-ID dataset.

Examples::
    python tools/make_synthetic.py --layout market1501 --out data/synth
    python tools/make_synthetic.py --layout regdb --out data/synth --num-train-ids 20 \
        --num-test-ids 20 --img-size 128 64
    python tools/make_synthetic.py --layout all --out data/synth
    python tools/make_synthetic.py --layout sysu_mm01 --out data/synthetic --img-size 128 64 \
        --gallery-imgs-per-id 40 48      # ~30 gallery images per identity, like SYSU-MM01

Then point the parser at it, e.g. ``dict(type='Market1501', data_root='data/synth')``. Every
image's part mask is written under ``<release folder>/part_masks/`` (same relative path,
``.png``); the printed summary is also saved as ``<out>/<release folder>.summary.json``.
"""
import argparse
import os.path as osp

from asym_plugins.data.synthetic.writer import (
    LAYOUTS,
    PARTIAL_ILIDS_VARIANTS,
    format_summary,
    write_layout,
)
from asym_plugins.engine.cli import ConfigError, add_debug_flag, run_cli


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--layout', required=True, choices=LAYOUTS + ('all',),
                   help='dataset layout to write, or "all"')
    p.add_argument('--out', required=True, help='output folder (the data_root of the parser)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-train-ids', type=int, default=None)
    p.add_argument('--num-test-ids', type=int, default=None)
    p.add_argument('--img-size', type=int, nargs=2, metavar=('H', 'W'), default=None)
    p.add_argument('--gallery-imgs-per-id', type=int, nargs=2, metavar=('MIN', 'MAX'),
                   default=None, help='gallery images per test identity (e.g. 40 48 for a '
                                      'SYSU-MM01-like multi-shot pool; default: the preset)')
    p.add_argument('--variant', choices=PARTIAL_ILIDS_VARIANTS, default=None,
                   help='Partial-iLIDS layout (default: folders)')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    add_debug_flag(p)
    return p.parse_args(argv)


def check_args(args) -> None:
    """User mistakes stop here with the flag to change (exit 2 through ``run_cli``)."""
    for flag, value in (('--num-train-ids', args.num_train_ids),
                        ('--num-test-ids', args.num_test_ids)):
        if value is not None and value < 2:
            raise ConfigError(f'{flag} {value}: a Re-ID split needs at least 2 identities')
    if args.img_size is not None and min(args.img_size) < 16:
        raise ConfigError(f'--img-size {args.img_size[0]} {args.img_size[1]}: images must be at '
                          'least 16 x 16 pixels (the person drawing needs room)')
    g = args.gallery_imgs_per_id
    if g is not None and not 1 <= g[0] <= g[1]:
        raise ConfigError(f'--gallery-imgs-per-id {g[0]} {g[1]}: give MIN MAX with '
                          '1 <= MIN <= MAX')
    if osp.exists(args.out) and not osp.isdir(args.out):
        raise ConfigError(f'--out {args.out!r} is a file; give a folder (the data_root of the '
                          'parser)')


def world_sizes(args) -> dict:
    """The ``SyntheticWorld`` settings the flags ask for (``write_layout``'s ``**sizes``)."""
    sizes = {}
    if args.num_train_ids is not None:
        sizes['num_train_ids'] = args.num_train_ids
    if args.num_test_ids is not None:
        sizes['num_test_ids'] = args.num_test_ids
    if args.img_size is not None:
        sizes['img_size'] = tuple(args.img_size)
    if args.gallery_imgs_per_id is not None:
        sizes['gallery_imgs_per_id'] = tuple(args.gallery_imgs_per_id)
    return sizes


def main(argv=None) -> int:
    args = parse_args(argv)
    check_args(args)
    sizes = world_sizes(args)
    layouts = LAYOUTS if args.layout == 'all' else (args.layout,)
    for layout in layouts:
        summary = write_layout(layout, args.out, seed=args.seed, variant=args.variant,
                               progress=not args.no_progress, **sizes)
        print(format_summary(summary))
    return 0


if __name__ == '__main__':
    run_cli(main)
