"""MoS cost benchmark: one training iteration (MoS losses + CP vs the BoT baseline), and the
test-time ranking at Market-1501 scale (hard Jaccard all pairs + CP re-scoring of the top-R).

Training (batch 64 = 16 ids x 4, C = 2048), measured in one run, alternating the two variants:

* baseline: ID (label smoothing) on BNNeck + batch-hard Euclidean triplet (margin 0.3);
* MoS: ID + Jaccard triplet (soft Jaccard, tau 10, chunked custom autograd) + prior update
  (running max over positive pairs); MoS + CP term adds the CP training term (top-32, off in
  the configs).

Features (``--features``): ``random`` = a random (64, 2048, 16, 8) map that requires grad,
max/avg pooled (isolates the losses' cost, no backbone); ``small`` = SmallReIDNet with 2048
output channels on 128x64 images; ``resnet50`` = ReIDResNet-50 at 256x128 (use on a GPU).
``--update-topk k`` times the restricted prior update. Three variants are timed: baseline,
MoS (the configs' default: no CP training term) and MoS + the CP training term.

Ranking: random non-negative "max-pooled" features (relu of a Gaussian, about half zeros),
3368 queries x 15913 gallery, C = 2048. ``--rank-queries n`` times the first n queries and
scales linearly (the cost is linear in the queries); 0 = all. Peak memory: CUDA
``max_memory_allocated``; CPU: peak RSS growth of a fresh worker process over its inputs.

Examples::
    python tools/benchmarks/bench_mos.py                          # CPU, both parts
    python tools/benchmarks/bench_mos.py --device cuda --features resnet50 --rank-queries 0
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import torch  # noqa: E402


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _vm_mb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f'{field} not in /proc/self/status')


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    return _vm_mb('VmRSS')


def _peak_rss_growth_mb(base):
    return _vm_mb('VmHWM') - base


# ------------------------------------------------------------------ training iteration
def build_train_variants(args, device):
    from asym_plugins.methods.mos import (JaccardTripletLoss, PositiveCooccurrencePrior,
                                          pairwise_conflict_penalty)
    from asym_plugins.models import (BNNeckHead, CrossEntropyLabelSmooth, ReIDResNet,
                                     SmallReIDNet, TripletLoss)
    C, B = args.channels, args.batch
    labels = torch.arange(B // 4, device=device).repeat_interleave(4)
    if args.features == 'random':
        inputs = torch.rand(B, C, 16, 8, device=device)
        backbone = None
    else:
        h, w = (256, 128) if args.features == 'resnet50' else (128, 64)
        inputs = torch.randn(B, 3, h, w, device=device)
        backbone = (ReIDResNet(depth=50, last_stride=1) if args.features == 'resnet50'
                    else SmallReIDNet(out_channels=C, stride=16)).to(device)
    heads = {k: BNNeckHead(C, num_classes=751).to(device) for k in ('baseline', 'mos')}
    ce = CrossEntropyLabelSmooth(epsilon=0.1)
    tri = TripletLoss(margin=0.3)
    jac = JaccardTripletLoss(margin=0.3, tau=10.0)
    prior = PositiveCooccurrencePrior(C, update_topk=args.update_topk).to(device)

    def features(pool):
        x = inputs.clone().requires_grad_() if backbone is None else backbone(inputs)
        return x.amax(dim=(2, 3)) if pool == 'max' else x.mean(dim=(2, 3))

    def baseline_step():
        f_t = features('avg')
        f_i, logits = heads['baseline'](f_t)
        loss = ce(logits, labels) + tri(f_t, labels)
        loss.backward()

    def mos_step(train_cp):
        g = torch.relu(features('max'))
        f_i, logits = heads['mos'](g)
        prior.update(g.detach(), labels)
        extra = 1.0 * pairwise_conflict_penalty(g, g, prior.M_p, eps=1.0, topk=32) \
            if train_cp else None
        loss = ce(logits, labels) + jac(g, labels, extra_distance=extra)
        loss.backward()

    return {'baseline': baseline_step, 'mos': lambda: mos_step(False),
            'mos+cp': lambda: mos_step(True)}


def _clock(device):
    # CPU: process CPU time (this machine is shared; wall time would measure the neighbours).
    return time.perf_counter() if device.type == 'cuda' else time.process_time()


def bench_train(args, device):
    steps = build_train_variants(args, device)
    times = {k: [] for k in steps}
    peaks = {}
    for name, fn in steps.items():          # warm-up
        for _ in range(args.warmup):
            fn()
    for _ in range(args.iters):
        for name, fn in steps.items():      # alternate: both see the same machine load
            _sync(device)
            t = _clock(device)
            fn()
            _sync(device)
            times[name].append(_clock(device) - t)
    if device.type == 'cuda':
        for name, fn in steps.items():
            torch.cuda.reset_peak_memory_stats(device)
            fn()
            _sync(device)
            peaks[name] = torch.cuda.max_memory_allocated(device) / 2**20
    med = {k: statistics.median(v) for k, v in times.items()}
    return dict(median_s=med, peak_mb=peaks or None)


def train_peak_worker(args, variant):
    """Peak RSS growth (MB) of one training step in this fresh process (CPU)."""
    device = torch.device('cpu')
    steps = build_train_variants(args, device)
    steps[variant]()                      # first call: lazy allocations, thread pools
    base = _reset_peak_rss()
    steps[variant]()
    return _peak_rss_growth_mb(base)


# ------------------------------------------------------------------ ranking
def rank_inputs(args, device):
    gen = torch.Generator().manual_seed(0)
    nq = args.num_query if args.rank_queries == 0 else min(args.rank_queries, args.num_query)
    qf = torch.relu(torch.randn(nq, args.channels, generator=gen)).to(device)
    gf = torch.relu(torch.randn(args.num_gallery, args.channels, generator=gen)).to(device)
    # A plausible prior: the max co-occurrence of 200 random same-identity-like pairs.
    from asym_plugins.methods.mos import PositiveCooccurrencePrior
    prior = PositiveCooccurrencePrior(args.channels).to(device)
    ref = torch.relu(torch.randn(100, args.channels, generator=gen)).to(device)
    prior.update(torch.cat([ref, (ref + 0.1 * torch.rand_like(ref))]),
                 torch.arange(100, device=device).repeat(2))
    return qf, gf, prior.M_p


def bench_rank(args, device, stage_name='both'):
    from asym_plugins.evaluation.distance import compute_distance
    from asym_plugins.methods.mos import hard_jaccard_similarity, rescore_topr
    qf, gf, M_p = rank_inputs(args, device)
    out = dict(queries_timed=qf.shape[0])
    scale = args.num_query / qf.shape[0]
    peaks = {}

    def stage(name, fn):
        base = _reset_peak_rss() if device.type == 'cpu' else 0.0
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device) / 2**20
        _sync(device)
        t = _clock(device)
        result = fn()
        _sync(device)
        out[name + '_s'] = (_clock(device) - t) * scale
        peaks[name] = (torch.cuda.max_memory_allocated(device) / 2**20 - base
                       if device.type == 'cuda' else _peak_rss_growth_mb(base))
        return result

    sim = stage('jaccard', lambda: hard_jaccard_similarity(qf, gf, chunk_size=args.jaccard_chunk))
    if stage_name in ('both', 'cp'):
        stage('cp_rescore', lambda: rescore_topr(sim, qf, gf, M_p, cp_lambda=0.1, eps=1.0,
                                                 topk=args.cp_topk, top_r=args.top_r))
    del sim
    stage('euclidean', lambda: compute_distance(qf, gf, 'euclidean'))
    out['peak_growth_mb'] = peaks
    out['distmat_mb_full'] = args.num_query * args.num_gallery * 4 / 2**20
    return out


# ------------------------------------------------------------------ driver
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    p.add_argument('--part', choices=['train', 'rank', 'both'], default='both')
    p.add_argument('--features', choices=['random', 'small', 'resnet50'], nargs='+',
                   default=['random', 'small'])
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--channels', type=int, default=2048)
    p.add_argument('--update-topk', type=int, default=None,
                   help='restricted prior update (top-k of each positive union); None = full')
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--num-query', type=int, default=3368)
    p.add_argument('--num-gallery', type=int, default=15913)
    p.add_argument('--rank-queries', type=int, default=128,
                   help='queries actually ranked (time scaled to --num-query); 0 = all')
    p.add_argument('--jaccard-chunk', type=int, default=256)
    p.add_argument('--top-r', type=int, default=100)
    p.add_argument('--cp-topk', type=int, default=32)
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _run_worker(argv, worker):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *argv, '--worker', worker],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    if args.worker:
        kind, _, rest = args.worker.partition(':')
        if kind == 'train':
            feats, variant = rest.split(',')
            args.features = feats
            print(json.dumps(train_peak_worker(args, variant)))
        else:
            print(json.dumps(bench_rank(args, device, stage_name=rest)))
        return
    clock = 'wall time' if device.type == 'cuda' else 'process CPU time'
    print(f'device={device} threads={args.threads} batch={args.batch} C={args.channels} '
          f'update_topk={args.update_topk} timing: {clock}, median of {args.iters}')
    if args.part in ('train', 'both'):
        for feats in args.features:
            a = argparse.Namespace(**{**vars(args), 'features': feats})
            res = bench_train(a, device)
            med = res['median_s']
            base = med['baseline']
            line = (f'[train] features={feats}: baseline {base * 1e3:.1f} ms | MoS '
                    f'{med["mos"] * 1e3:.1f} ms ({med["mos"] / base:.2f}x) | MoS + CP term '
                    f'{med["mos+cp"] * 1e3:.1f} ms ({med["mos+cp"] / base:.2f}x)')
            if res['peak_mb']:
                line += '\n        peak MB ' + ', '.join(f'{k} {v:.0f}'
                                                    for k, v in res['peak_mb'].items())
            elif device.type == 'cpu':
                peaks = {v: _run_worker(argv, f'train:{feats},{v}')
                         for v in ('baseline', 'mos', 'mos+cp')}
                line += '\n        peak RSS growth MB ' + ', '.join(f'{k} {v:.0f}'
                                                               for k, v in peaks.items())
            print(line, flush=True)
    if args.part in ('rank', 'both'):
        res = (bench_rank(args, device) if device.type == 'cuda'
               else _run_worker(argv, 'rank:both'))
        print(f'[rank] {args.num_query} x {args.num_gallery}, C={args.channels} '
              f'(timed {res["queries_timed"]} queries, scaled): hard Jaccard '
              f'{res["jaccard_s"]:.1f} s, CP re-score top-{args.top_r} (k={args.cp_topk}) '
              f'{res["cp_rescore_s"]:.1f} s, Euclidean (reference) {res["euclidean_s"]:.1f} s')
        kind = 'GPU memory' if device.type == 'cuda' else 'RSS'
        print(f'[rank] peak {kind} growth per stage, {res["queries_timed"]} queries: '
              + ', '.join(f'{k} {v:.0f} MB' for k, v in res['peak_growth_mb'].items())
              + f' (the full {args.num_query} x {args.num_gallery} float32 distance matrix is '
              f'{res["distmat_mb_full"]:.0f} MB)')


if __name__ == '__main__':
    main()
