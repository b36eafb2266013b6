"""Rendering speed of the synthetic world on one CPU core, and an optional sample sheet.

Prints images/s per preset at 128x64 and 256x128 (torch / cv2 / BLAS threads = 1), plus the
ratio to the 200 images/s target at 128x64. ``--sheet out.png`` also writes a grid per scenario:
each cell is an image and its part-mask overlay (head red, upper body green, lower body blue,
shoes yellow, bag magenta, occluder cyan); the infrared row pairs each infrared query with its
visible twin; the text row's captions are printed.

Examples::
    python tools/benchmarks/bench_synthetic.py --num 300
    python tools/benchmarks/bench_synthetic.py --num 100 --sheet work_dirs/synthetic_sheet.png
"""
import os

for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_var] = '1'

import argparse  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from asym_plugins.data.synthetic import PRESETS, SyntheticWorld  # noqa: E402

TARGET = 200.0
PART_COLOURS = np.array([(0, 0, 0), (230, 40, 40), (40, 200, 60), (50, 90, 240),
                         (240, 220, 30), (220, 40, 220), (30, 230, 230)], np.float32)


def _single_thread() -> None:
    cv2.setNumThreads(1)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:  # torch is optional for the world itself
        pass


def bench(preset: str, img_size, num: int, seed: int = 0):
    """(images/s, planning seconds) of ``num`` renders mixed from the three splits."""
    t0 = time.perf_counter()
    world = SyntheticWorld(preset, seed=seed, img_size=img_size)
    recs = {s: world.records(s) for s in ('train', 'query', 'gallery')}
    plan_s = time.perf_counter() - t0
    mixed = [r for trio in zip(recs['train'], recs['query'], recs['gallery']) for r in trio]
    mixed = (mixed * (num // max(1, len(mixed)) + 1))[:num]
    for camid in {r['camid'] for r in mixed}:   # backgrounds are cached once per camera
        world.render(next(r for r in mixed if r['camid'] == camid))
    t0 = time.perf_counter()
    for r in mixed:
        world.render(r)
    return num / (time.perf_counter() - t0), plan_s


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num', type=int, default=300, help='renders per preset and size')
    parser.add_argument('--presets', nargs='+', default=list(PRESETS))
    parser.add_argument('--sheet', default=None, help='write a sample sheet PNG here')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    _single_thread()
    print(f"{'preset':10s} {'128x64 img/s':>13s} {'x target':>9s} {'256x128 img/s':>14s} "
          f"{'plan s':>7s}")
    for preset in args.presets:
        small, plan_s = bench(preset, (128, 64), args.num, args.seed)
        large, _ = bench(preset, (256, 128), max(50, args.num // 3), args.seed)
        print(f'{preset:10s} {small:13.0f} {small / TARGET:9.2f} {large:14.0f} {plan_s:7.2f}')
    if args.sheet:
        sample_sheet(args.sheet, seed=args.seed)


if __name__ == '__main__':
    main()
