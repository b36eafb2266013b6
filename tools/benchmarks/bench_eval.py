"""Benchmark ``asym_plugins.evaluation.evaluate_rank`` against torchreid's python evaluator.

Both run once on the SAME float32 distance matrix (built once, saved, and loaded by a fresh
worker process per evaluator, one after the other, so neither inherits the other's heap).
Market-1501 scale by default: 3,368 queries x 15,913 gallery, 751 identities (+ distractors with
pid 0), 6 cameras; features are identity centres + camera bias + noise, so every query has many
positives and the metrics land in a realistic range.

Printed: wall time of each call (time.perf_counter), the ratio, the largest CMC/mAP difference,
and peak memory of each call = the worker's peak RSS during the call minus its RSS at the call's
start (``VmHWM`` in /proc/self/status, reset through /proc/self/clear_refs; sees numpy and torch
allocations alike; the input distmat is already resident and not counted), plus tracemalloc's
peak (numpy allocations only).

Usage::
    python tools/benchmarks/bench_eval.py            # Market-1501 scale
    python tools/benchmarks/bench_eval.py --quick    # 600 x 3000, a few seconds
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
from asym_plugins.evaluation.distance import compute_distance  # noqa: E402
from asym_plugins.evaluation.rank import evaluate_rank  # noqa: E402


def make_data(num_query, num_gallery, num_ids, num_cams, dim, seed, noise=1.25, cam_scale=0.6):
    """Identity-structured random features (Market-like: ~17% distractors in the gallery)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_ids + 1, dim)).astype(np.float32)
    cam_bias = cam_scale * rng.normal(size=(num_cams, dim)).astype(np.float32)
    num_distractors = int(0.175 * num_gallery)
    g_pids = np.concatenate([rng.integers(1, num_ids + 1, num_gallery - num_distractors),
                             np.zeros(num_distractors, dtype=np.int64)])
    q_pids = rng.integers(1, num_ids + 1, num_query)
    g_cams = rng.integers(0, num_cams, num_gallery)
    q_cams = rng.integers(0, num_cams, num_query)

    def feats(pids, cams):
        x = centres[pids] + cam_bias[cams] + noise * rng.normal(size=(len(pids), dim))
        distractor = pids == 0  # each distractor is a person of its own
        x[distractor] += rng.normal(size=(int(distractor.sum()), dim)) - centres[0]
        return x.astype(np.float32)

    return feats(q_pids, q_cams), feats(g_pids, g_cams), q_pids, g_pids, q_cams, g_cams


def _status_kb(key):
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def measure(fn):
    """Run fn once; return (result, seconds, peak RSS increase MB or None, tracemalloc peak MB)."""
    can_reset = True
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM (peak RSS) to the current RSS
    except OSError:
        can_reset = False
    rss0 = _status_kb('VmRSS')
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    _, tm_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm = _status_kb('VmHWM')
    peak = (hwm - rss0) / 1024 if (can_reset and hwm is not None and rss0 is not None) else None
    return out, dt, peak, tm_peak / 2**20


def run_worker(args):
    """Child process: load the saved problem, run one evaluator once, print a JSON line."""
    z = np.load(osp.join(args.data, 'problem.npz'))
    distmat, qp, gp, qc, gc = (z[k] for k in ('distmat', 'qp', 'gp', 'qc', 'gc'))
    tiny = np.random.default_rng(0).random((4, 30)).astype(np.float32)
    tiny_ids = np.arange(30) % 5
    if args.worker == 'ours':
        x = distmat if args.device == 'cpu' else torch.from_numpy(distmat).to(args.device)
        evaluate_rank(tiny, tiny_ids[:4], tiny_ids, tiny_ids[:4] + 1, tiny_ids, 10)  # warm-up

        def fn():
            res = evaluate_rank(x, qp, gp, qc, gc, args.max_rank)
            if args.device != 'cpu':
                torch.cuda.synchronize()
            return list(map(float, res.cmc)), res.mAP, res.mINP, res.num_valid, res.num_skipped
    else:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            from torchreid.reid.metrics.rank import evaluate_rank as torchreid_evaluate_rank
        torchreid_evaluate_rank(tiny, tiny_ids[:4], tiny_ids, tiny_ids[:4] + 1, tiny_ids, 10,
                                use_cython=False)

        def fn():
            cmc, mAP = torchreid_evaluate_rank(distmat, qp, gp, qc, gc, args.max_rank,
                                               use_cython=False)
            return list(map(float, cmc)), float(mAP), None, None, None
    out, dt, peak, tm = measure(fn)
    print('RESULT ' + json.dumps(dict(result=out, seconds=dt, peak_mb=peak, tracemalloc_mb=tm)))


def launch(name, args, tmp):
    cmd = [sys.executable, osp.abspath(__file__), '--worker', name, '--data', tmp,
           '--max-rank', str(args.max_rank), '--device', args.device]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f'{name} worker failed:\n{proc.stdout}\n{proc.stderr}')
    return json.loads(lines[-1][len('RESULT '):])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='600 queries x 3000 gallery')
    parser.add_argument('--dim', type=int, default=256)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--max-rank', type=int, default=50)
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda' for our evaluator")
    parser.add_argument('--worker', choices=['ours', 'torchreid'], help=argparse.SUPPRESS)
    parser.add_argument('--data', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)
    if args.quick:
        nq, ng, nid = 600, 3000, 150
    else:
        nq, ng, nid = 3368, 15913, 751
    qf, gf, qp, gp, qc, gc = make_data(nq, ng, nid, 6, args.dim, args.seed)
    t0 = time.perf_counter()
    distmat = compute_distance(torch.from_numpy(qf), torch.from_numpy(gf), 'sqeuclidean').numpy()
    print(f'data: {nq} queries x {ng} gallery, {nid} ids + distractors, 6 cams, dim {args.dim}; '
          f'distmat float32 {distmat.nbytes / 2**20:.0f} MB built in '
          f'{time.perf_counter() - t0:.2f} s')
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, numpy '
          f'{np.__version__}, device {args.device}; each evaluator runs once in a fresh process '
          'on the same saved distmat')
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(osp.join(tmp, 'problem.npz'), distmat=distmat, qp=qp, gp=gp, qc=qc, gc=gc)
        del distmat, qf, gf
        ours = launch('ours', args, tmp)
        theirs = launch('torchreid', args, tmp)

    def fmt(mb):
        return 'n/a' if mb is None else f'{mb:.0f} MB'

    t_ours, t_tr = ours['seconds'], theirs['seconds']
    print(f'asym evaluate_rank          : {t_ours:9.3f} s   peak RSS +{fmt(ours["peak_mb"])} '
          f'(tracemalloc, numpy only: {ours["tracemalloc_mb"]:.0f} MB)')
    print(f'torchreid (use_cython=False): {t_tr:9.3f} s   peak RSS +{fmt(theirs["peak_mb"])} '
          f'(tracemalloc, numpy only: {theirs["tracemalloc_mb"]:.0f} MB)')
    print(f'speed-up: {t_tr / t_ours:.1f}x')
    cmc, mAP, mINP, valid, skipped = ours['result']
    cmc_t, map_t = theirs['result'][:2]
    print(f'ours     : R1 {cmc[0]:.4%} R5 {cmc[4]:.4%} R10 {cmc[9]:.4%} mAP {mAP:.4%} '
          f'mINP {mINP:.4%} (valid {valid}, skipped {skipped})')
    print(f'torchreid: R1 {cmc_t[0]:.4%} R5 {cmc_t[4]:.4%} R10 {cmc_t[9]:.4%} mAP {map_t:.4%}')
    dc = float(np.abs(np.asarray(cmc) - np.asarray(cmc_t)).max())
    dm = abs(mAP - map_t)
    print(f'max |cmc diff| {dc:.2e}, |mAP diff| {dm:.2e} -> '
          f'{"EQUAL (<=1e-6)" if max(dc, dm) <= 1e-6 else "DIFFERENT"}')


if __name__ == '__main__':
    main()
