"""Rendering speed of the synthetic world, and an optional sample sheet.

Each (preset, image size) is a side of ``harness.py``: its own process with the given thread
settings, warm-up (backgrounds cached once per camera), median of 3 timed calls of ``--num``
renders mixed from the train / query / gallery splits. The table gives seconds per call; the
lines after it give images/s and the ratio to the 200 images/s target at 128x64. Every child
also renders its first record again and checks the image and part mask are identical
(rendering is deterministic). ``--sheet out.png`` writes a grid per scenario: each cell is an
image and its part-mask overlay (head red, upper body green, lower body blue, shoes yellow, bag
magenta, occluder cyan); the infrared row pairs each infrared query with its visible twin; the
text row's captions are printed.

Examples::
    python tools/benchmarks/bench_synthetic.py --quick
    python tools/benchmarks/bench_synthetic.py --num 300 --modes 1
    python tools/benchmarks/bench_synthetic.py --num 100 --sheet work_dirs/synthetic_sheet.png
"""
import argparse
import hashlib
import os
import os.path as osp
import sys

import cv2
import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, osp.dirname(osp.dirname(HERE)))
import harness  # noqa: E402

from asym_plugins.data.synthetic import PRESETS, SyntheticWorld  # noqa: E402

TARGET = 200.0
PART_COLOURS = np.array([(0, 0, 0), (230, 40, 40), (40, 200, 60), (50, 90, 240),
                         (240, 220, 30), (220, 40, 220), (30, 230, 230)], np.float32)


SIZES = {'128x64': (128, 64), '256x128': (256, 128)}


def side(preset: str, size: str):
    def factory(args, data):
        cv2.setNumThreads(args.harness_threads)
        world = SyntheticWorld(preset, seed=args.seed, img_size=SIZES[size])
        recs = {s: world.records(s) for s in ('train', 'query', 'gallery')}
        mixed = [r for trio in zip(recs['train'], recs['query'], recs['gallery']) for r in trio]
        num = num_renders(args, size)
        mixed = (mixed * (num // max(1, len(mixed)) + 1))[:num]
        first = world.render(mixed[0])

        def run():
            for r in mixed:
                world.render(r)
            again = world.render(mixed[0])
            return (np.array_equal(again['img'], first['img'])
                    and np.array_equal(again['mask'], first['mask']))

        def warmup():  # backgrounds are cached once per camera
            for camid in {r['camid'] for r in mixed}:
                world.render(next(r for r in mixed if r['camid'] == camid))

        digest = hashlib.sha1(first['img'].tobytes() + first['mask'].tobytes()).hexdigest()
        return harness.Prepared(run=run, warmup=warmup,
                                to_json=lambda same: dict(deterministic=bool(same),
                                                          num=num, sha1=digest[:12]))
    return factory


def num_renders(args, size: str) -> int:
    return args.num if size == '128x64' else max(args.num // 3, 10)


SIDES = {f'{p}@{z}': side(p, z) for p in PRESETS for z in SIZES}


def check(results):
    bad = [k for k, r in results.items() if not r['deterministic']]
    assert not bad, f'rendering the same record twice differed for {bad}'
    return f'{len(results)} sides: every re-render identical to the first'


def overlay(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    col = PART_COLOURS[mask]
    out = img.astype(np.float32)
    fg = (mask > 0)[..., None]
    return np.where(fg, 0.4 * out + 0.6 * col, out).astype(np.uint8)


def sample_sheet(path: str, per_row: int = 6, seed: int = 0, zoom: int = 2) -> None:
    rows = []
    label_w = 90
    for preset in PRESETS:
        world = SyntheticWorld(preset, seed=seed, num_train_ids=20, num_test_ids=12)
        q = world.records('query')
        step = max(1, len(q) // per_row)
        picks = q[::step][:per_row]
        cells = []
        for rec in picks:
            out = world.render(rec)
            pair = [out['img'], overlay(out['img'], out['mask'])]
            if preset == 'infrared':
                twin = world.render(dict(rec, modality='visible'))
                pair.append(twin['img'])
            cells.append(np.concatenate(pair + [np.full((out['img'].shape[0], 3, 3), 255,
                                                        np.uint8)], axis=1))
            extra = ''
            if rec.get('occluder'):
                extra = f" occluder={rec['occluder']['kind']} hides={rec['occluded_parts']}"
            if rec.get('crop'):
                extra = (f" crop={rec['crop']['region']} box={rec['visible_box']} "
                         f"visible={rec['visible_parts']}")
            print(f"[{preset}] pid={rec['pid']} cam={rec['camid']} {rec['modality']} "
                  f"{rec['view']}{extra}")
            for cap in rec.get('captions', []):
                print(f'    "{cap}"')
        row = np.concatenate(cells, axis=1)
        row = cv2.resize(row, (row.shape[1] * zoom, row.shape[0] * zoom),
                         interpolation=cv2.INTER_NEAREST)
        label = np.full((row.shape[0], label_w, 3), 255, np.uint8)
        cv2.putText(label, preset, (4, row.shape[0] // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([label, row], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255)
            for r in rows]
    sheet = np.concatenate(rows, axis=0)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    cv2.imwrite(path, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f'sample sheet: {path} ({sheet.shape[1]}x{sheet.shape[0]})')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num', type=int, default=300,
                        help='renders per timed call at 128x64 (a third of it at 256x128)')
    parser.add_argument('--presets', nargs='+', default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument('--sizes', nargs='+', default=list(SIZES), choices=list(SIZES))
    parser.add_argument('--sheet', default=None, help='write a sample sheet PNG here')
    parser.add_argument('--seed', type=int, default=0)
    harness.add_arguments(parser)
    args = parser.parse_args(argv)
    if harness.is_child(args):
        return harness.child_main(args, SIDES)
    if args.quick:
        args.num = min(args.num, 20)
        args.sizes = ['128x64']
    sides = [harness.Side(f'{p}@{z}', f'{p} {z}') for p in args.presets for z in args.sizes]
    table = harness.run(args, sides, check=check,
                        title=f'synthetic rendering, seconds per call of {args.num} renders at '
                        '128x64 (a third of it at 256x128)')
    for r in table['rows']:
        size = r['side'].split('@')[1]
        ips = num_renders(args, size) / r['median']
        extra = f', {ips / TARGET:.2f}x the {TARGET:.0f} img/s target' if size == '128x64' else ''
        print(f'{harness.MODE_LABEL[r["mode"]]:<17} {r["label"]:<18} {ips:7.0f} img/s{extra}')
    if args.sheet:
        sample_sheet(args.sheet, seed=args.seed)


if __name__ == '__main__':
    main()
