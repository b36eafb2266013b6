"""Write the synthetic world in the exact on-disk layout of a real Re-ID dataset.

Examples::
    python tools/make_synthetic.py --layout market1501 --out data/synth
    python tools/make_synthetic.py --layout regdb --out data/synth --num-train-ids 20 \
        --num-test-ids 20 --img-size 128 64
    python tools/make_synthetic.py --layout all --out data/synth

Then point the parser at it, e.g. ``dict(type='Market1501', data_root='data/synth')``. Every
image's part mask is written under ``<release folder>/part_masks/`` (same relative path,
``.png``); the printed summary is also saved as ``<out>/<release folder>.summary.json``.
"""
import argparse
import sys

from asym_plugins.data.synthetic.writer import (
    LAYOUTS,
    PARTIAL_ILIDS_VARIANTS,
    format_summary,
    write_layout,
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--layout', required=True, choices=LAYOUTS + ('all',),
                   help='dataset layout to write, or "all"')
    p.add_argument('--out', required=True, help='output folder (the data_root of the parser)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-train-ids', type=int, default=None)
    p.add_argument('--num-test-ids', type=int, default=None)
    p.add_argument('--img-size', type=int, nargs=2, metavar=('H', 'W'), default=None)
    p.add_argument('--variant', choices=PARTIAL_ILIDS_VARIANTS, default=None,
                   help='Partial-iLIDS layout (default: folders)')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    sizes = {}
    if args.num_train_ids is not None:
        sizes['num_train_ids'] = args.num_train_ids
    if args.num_test_ids is not None:
        sizes['num_test_ids'] = args.num_test_ids
    if args.img_size is not None:
        sizes['img_size'] = tuple(args.img_size)
    layouts = LAYOUTS if args.layout == 'all' else (args.layout,)
    for layout in layouts:
        summary = write_layout(layout, args.out, seed=args.seed, variant=args.variant,
                               progress=not args.no_progress, **sizes)
        print(format_summary(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
