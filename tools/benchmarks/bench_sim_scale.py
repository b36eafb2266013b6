"""SIM at gallery scale: streaming SIM from features, time and peak memory vs gallery size.

Synthetic clustered features (``--dim`` 2048, about 27 gallery and 4 query images per identity,
as MSMT17's test split) at growing gallery sizes (``--sizes``, default 10k, 20k, 40k and
MSMT17's 82,161; ``Nq = Ng / 7``). Each size runs in its own child process of the shared
harness (``harness.py``): one timed call of :func:`similarity_inference_features` (gallery
structure, then queries in chunks: SIM, evaluation and the top-100 ranking), then a separate
child for the peak memory (peak RSS growth over the call: the two feature arrays are made
before it). Then a power law ``t = a * Ng^b`` is fitted to the times (and to the memory) and
projected to ``--project`` (1M) gallery images; the assumptions are printed with it.

``--neighbours exact faiss faiss-approx`` repeats every size with each way of finding the
gallery's nearest items (docs/sim.md "Large galleries": ``faiss`` gives the exact numbers,
``faiss-approx`` an HNSW index, ``--hnsw-m`` / ``--ef-construction`` / ``--ef-search``) and
prints each row's R1/mAP difference from the ``exact`` row of its size when there is one.

The Market-scale row (3368 x 15913, ``--market``) times the dense path (``compute_distance``
of both matrices, ``similarity_inference``, ``evaluate_rank``, stable top-100) against the
streaming path on the same features, in the harness's thread modes, and checks that both give
the same R1/mAP/mINP and top-100 lists.

Examples::
    python tools/benchmarks/bench_sim_scale.py --quick          # correctness smoke run (< 60 s)
    python tools/benchmarks/bench_sim_scale.py --sizes 10000 20000 --modes 2 --market
    python tools/benchmarks/bench_sim_scale.py --sizes 82161 --modes 2 --no-market  # MSMT17
    python tools/benchmarks/bench_sim_scale.py --no-scale --modes 2           # Market row only
    python tools/benchmarks/bench_sim_scale.py --sizes 20000 --no-market --neighbours exact faiss
    python tools/benchmarks/bench_sim_scale.py --ranks-check 12000       # 1 vs 2 gloo ranks
"""
import argparse
import math
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import harness  # noqa: E402

IMGS_PER_ID = 27  # MSMT17 test: 82,161 gallery images of 3,060 identities
MARKET = (3368, 15913)
#: Noise around the identity centres (unit-variance centres): R1 well below 100% at 2048-d.
NOISE = 3.0


def make_features(ng: int, nq: int, dim: int, seed: int = 0):
    """Clustered features: identity centres plus noise; query camera 0, gallery cameras 1-5
    (identity 0's gallery on camera 0: the market rule removes it, its queries are skipped)."""
    import numpy as np
    import torch
    g = torch.Generator().manual_seed(seed)
    n_ids = max(2, ng // IMGS_PER_ID)
    g_ids = torch.arange(ng) % n_ids
    q_ids = torch.arange(nq) % n_ids
    cent = torch.randn(n_ids, dim, generator=g)
    gf = cent[g_ids] + NOISE * torch.randn(ng, dim, generator=g)
    qf = cent[q_ids] + NOISE * torch.randn(nq, dim, generator=g)
    gc = 1 + (torch.arange(ng) % 5)
    gc[g_ids == 0] = 0
    return (qf, gf, q_ids.numpy(), g_ids.numpy(), np.zeros(nq, dtype=np.int64),
            gc.numpy())


def _size(args):
    ng = int(args.size)
    return ng, args.nq or max(1, ng // args.nq_ratio)


def _metrics_json(m, topk_index):
    import hashlib
    return dict(R1=float(m.cmc[0]), mAP=float(m.mAP), mINP=float(m.mINP),
                topk_sha=hashlib.sha1(topk_index.tobytes()).hexdigest())


def side_stream(args, data_dir):
    from asym_plugins.methods.sim import similarity_inference_features
    ng, nq = _size(args)
    qf, gf, qp, gp, qc, gc = make_features(ng, nq, args.dim)

    fp = {k: getattr(args, k) for k in ('hnsw_m', 'ef_construction', 'ef_search')
          if getattr(args, k) is not None}

    def run():
        return similarity_inference_features(qf, gf, q_pids=qp, g_pids=gp, q_camids=qc,
                                             g_camids=gc, topk=100,
                                             memory_budget=args.memory_budget,
                                             progress=args.progress,
                                             neighbours=args.neighbour or 'exact',
                                             faiss_params=fp or None)

    def to_json(r):
        out = _metrics_json(r.metrics, r.topk_index)
        out.update(chunk=r.chunk_queries, chunks=r.num_chunks, tile=r.tile_rows,
                   gallery_s=r.seconds['gallery'], queries_s=r.seconds['queries'], nq=nq, ng=ng,
                   index_s=r.seconds.get('index', 0.0))
        return out
    return harness.Prepared(run=run, warmup=lambda: None, to_json=to_json)


def side_dense(args, data_dir):
    import torch

    from asym_plugins.evaluation import compute_distance, evaluate_rank, l2_normalize
    from asym_plugins.methods.sim import similarity_inference
    ng, nq = _size(args)
    qf, gf, qp, gp, qc, gc = make_features(ng, nq, args.dim)

    def run():
        qn, gn = l2_normalize(qf), l2_normalize(gf)
        d = similarity_inference(compute_distance(qn, gn), compute_distance(gn, gn))
        m = evaluate_rank(d, qp, gp, qc, gc)
        top = torch.sort(d, dim=1, stable=True).indices[:, :100]
        return m, top.numpy()
    return harness.Prepared(run=run, warmup=lambda: None,
                            to_json=lambda r: _metrics_json(*r))


SIDES = {'stream': side_stream, 'dense': side_dense}


def _fit(xs, ys):
    """Least-squares power law ``y = a x^b`` (log-log); returns (a, b)."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(max(y, 1e-9)) for y in ys]
    n = len(xs)
    mx, my = sum(lx) / n, sum(ly) / n
    sxx = sum((x - mx) ** 2 for x in lx)
    b = sum((x - mx) * (y - my) for x, y in zip(lx, ly)) / sxx if sxx > 0 else 1.0
    return math.exp(my - b * mx), b


def scale_table(args):
    """One child per size for the time, one for the peak memory."""
    threads = harness._threads(args.modes[0])
    script = osp.abspath(__file__)
    rows = []
    hnsw = []
    for k in ('hnsw_m', 'ef_construction', 'ef_search'):
        if getattr(args, k) is not None:
            hnsw += [f'--{k.replace("_", "-")}', str(getattr(args, k))]
    for ng in args.sizes:
        for nb in args.neighbours:
            argv = ['--size', str(ng), '--dim', str(args.dim), '--nq-ratio', str(args.nq_ratio),
                    '--memory-budget', args.memory_budget, '--repeat', '1', '--warmup', '0',
                    '--neighbour', nb, *hnsw]
            t0 = time.time()
            r = harness.launch(script, argv, 'stream', threads, 'time', None)
            res = r['result']
            mem = None
            if not args.no_memory:
                mem = harness.launch(script, argv, 'stream', 1, 'memory', None)['peak_mb']
            feats_mb = (ng + res['nq']) * args.dim * 4 / 2**20
            rows.append(dict(res, seconds=r['times'][0], peak_mb=mem, feats_mb=feats_mb,
                             neighbours=nb))
            harness._progress(f'Ng={ng} ({nb}): {r["times"][0]:.1f} s, peak RSS growth '
                              f'{"-" if mem is None else f"{mem:.0f} MB"} '
                              f'({time.time() - t0:.0f} s with the memory run)')
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    print()
    print(f'== streaming SIM (official, SYSU preset), {args.dim}-d features, Nq = Ng/'
          f'{args.nq_ratio}, memory budget {args.memory_budget}, {threads} thread(s); '
          f'1-min load average at the end {load:.1f} ==')
    print(f'{"Ng":>8} {"Nq":>7} {"neighbours":>12} {"time s":>8} {"gallery s":>9} '
          f'{"(index s)":>9} {"queries s":>9} {"chunk":>6} {"peak MB":>8} {"feats MB":>8} '
          f'{"R1":>6} {"mAP":>6} {"dR1":>6} {"dmAP":>6}')
    exact = {r['ng']: r for r in rows if r['neighbours'] == 'exact'}
    for r in rows:
        pk = '-' if r['peak_mb'] is None else f'{r["peak_mb"]:.0f}'
        ref = exact.get(r['ng'])
        d1 = '-' if ref is None else f'{100 * (r["R1"] - ref["R1"]):+.2f}'
        dm = '-' if ref is None else f'{100 * (r["mAP"] - ref["mAP"]):+.2f}'
        print(f'{r["ng"]:>8} {r["nq"]:>7} {r["neighbours"]:>12} {r["seconds"]:>8.1f} '
              f'{r["gallery_s"]:>9.1f} {r["index_s"]:>9.1f} {r["queries_s"]:>9.1f} '
              f'{r["chunk"]:>6} {pk:>8} {r["feats_mb"]:>8.0f} {100 * r["R1"]:>6.2f} '
              f'{100 * r["mAP"]:>6.2f} {d1:>6} {dm:>6}')
    print('(peak MB: peak RSS growth over the call, separate 1-thread run, the two feature '
          'arrays excluded; feats MB: their size; index s: building the faiss index, part of '
          'gallery s; dR1 / dmAP: points from the exact row of the same size)')
    for nb in args.neighbours:
        sub = [r for r in rows if r['neighbours'] == nb]
        if len(sub) < 2:
            continue
        a, b = _fit([r['ng'] for r in sub], [r['seconds'] for r in sub])
        t1m = a * args.project ** b
        print(f'{nb}: time fit: t = {a:.3g} * Ng^{b:.2f} s -> Ng = {args.project:,}: '
              f'{t1m:.0f} s ({t1m / 3600:.1f} h), Nq = Ng/{args.nq_ratio}')
        if all(r['peak_mb'] is not None for r in sub):
            am, bm = _fit([r['ng'] for r in sub], [max(r['peak_mb'], 1) for r in sub])
            print(f'memory fit: peak = {am:.3g} * Ng^{bm:.2f} MB -> Ng = {args.project:,}: '
                  f'{am * args.project ** bm:.0f} MB (the budget caps the chunk term; the '
                  'gallery structure grows as Ng x k)')
    if len(rows) >= 2:
        print('assumptions: time is dominated by the two feature products (Ng^2 d and '
              'Nq Ng d, quadratic in Ng at a fixed Nq/Ng; faiss-approx replaces the first '
              'by about Ng log Ng HNSW distance evaluations), the per-query SIM work grows as '
              'Ng per query; same machine, threads and load as measured here.')
    return rows


def _rank_worker(args):
    """One rank of ``--ranks-check`` (a plain child, not the harness): times one call under a
    gloo group of ``--world`` ranks and prints its result as JSON."""
    import json

    import torch
    import torch.distributed as tdist

    from asym_plugins.methods.sim import similarity_inference_features
    torch.set_num_threads(args.rank_threads)
    if args.world > 1:
        tdist.init_process_group('gloo', init_method='file://' + args.rank_init,
                                 rank=args.rank, world_size=args.world)
    ng, nq = args.ranks_check, max(1, args.ranks_check // args.nq_ratio)
    qf, gf, qp, gp, qc, gc = make_features(ng, nq, args.dim)
    if args.world > 1:
        tdist.barrier()
    t0 = time.perf_counter()
    r = similarity_inference_features(qf, gf, q_pids=qp, g_pids=gp, q_camids=qc,
                                      g_camids=gc, topk=100, memory_budget=args.memory_budget)
    out = dict(_metrics_json(r.metrics, r.topk_index), seconds=time.perf_counter() - t0,
               gallery_s=r.seconds['gallery'], queries_s=r.seconds['queries'])
    print('RANK_RESULT ' + json.dumps(out), flush=True)
    if args.world > 1:
        tdist.destroy_process_group()


def ranks_check(args):
    """1 rank (1 and 2 threads) vs 2 gloo ranks of 1 thread on one ``--ranks-check`` size:
    wall time of the call (slowest rank) and the same metrics / top-100 on every rank."""
    import json
    import subprocess
    import tempfile
    script = osp.abspath(__file__)
    runs = []
    for world, threads in ((1, 1), (1, 2), (2, 1)):
        tmp = tempfile.mkdtemp(prefix='asym_ranks_')
        env = dict(os.environ)
        for k in harness.THREAD_ENV:
            env[k] = str(threads)
        for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
            env.pop(k, None)
        procs = [subprocess.Popen(
            [sys.executable, script, '--ranks-check', str(args.ranks_check), '--dim',
             str(args.dim), '--nq-ratio', str(args.nq_ratio), '--memory-budget',
             args.memory_budget, '--rank', str(r), '--world', str(world), '--rank-threads',
             str(threads), '--rank-init', osp.join(tmp, 'init')], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(world)]
        res = []
        for pr in procs:
            out, err = pr.communicate()
            lines = [ln for ln in out.splitlines() if ln.startswith('RANK_RESULT ')]
            if pr.returncode or not lines:
                raise RuntimeError(f'rank run failed ({world} ranks):\n{err[-3000:]}')
            res.append(json.loads(lines[-1][len('RANK_RESULT '):]))
        runs.append((world, threads, res))
        harness._progress(f'{world} rank(s) x {threads} thread(s): '
                          f'{max(r["seconds"] for r in res):.1f} s')
    ref = runs[0][2][0]
    for world, threads, res in runs:
        for r in res:
            for k in ('R1', 'mAP', 'mINP', 'topk_sha'):
                assert r[k] == ref[k], f'{k} differs with {world} ranks'
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    ng = args.ranks_check
    print(f'\n== streaming SIM over ranks: Ng = {ng}, Nq = {max(1, ng // args.nq_ratio)}, '
          f'{args.dim}-d; 1-min load average at the end {load:.1f} ==')
    print(f'{"ranks x threads":>16} {"time s":>8} {"gallery s":>9} {"queries s":>9} '
          f'{"vs 1x1":>7}')
    base = max(r['seconds'] for r in runs[0][2])
    for world, threads, res in runs:
        t = max(r['seconds'] for r in res)
        print(f'{f"{world} x {threads}":>16} {t:>8.1f} '
              f'{max(r["gallery_s"] for r in res):>9.1f} '
              f'{max(r["queries_s"] for r in res):>9.1f} {t / base:>6.2f}x')
    print('(slowest rank; every rank returned the 1-rank R1/mAP/mINP and top-100 lists)')


def check_same(results):
    a, b = results['dense'], results['stream']
    for k in ('R1', 'mAP', 'mINP', 'topk_sha'):
        assert a[k] == b[k], f'{k}: dense {a[k]} vs stream {b[k]}'
    return (f'same R1 {100 * a["R1"]:.2f} / mAP {100 * a["mAP"]:.2f} / mINP '
            f'{100 * a["mINP"]:.2f} and identical top-100 lists (dense vs streaming)')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sizes', type=int, nargs='+', default=[10000, 20000, 40000, 82161])
    p.add_argument('--dim', type=int, default=2048)
    p.add_argument('--nq-ratio', dest='nq_ratio', type=int, default=7)
    p.add_argument('--memory-budget', dest='memory_budget', default='4GB')
    p.add_argument('--project', type=int, default=1_000_000)
    p.add_argument('--market', action=argparse.BooleanOptionalAction, default=True,
                   help='the dense vs streaming row at Market scale (3368 x 15913)')
    p.add_argument('--scale', action=argparse.BooleanOptionalAction, default=True,
                   help='the time / memory rows per gallery size (--no-scale: only --market)')
    p.add_argument('--progress', action='store_true', help='progress bars in the children')
    p.add_argument('--neighbours', nargs='+', default=['exact'],
                   choices=['exact', 'faiss', 'faiss-approx', 'bf16-approx'],
                   help="how the gallery pass finds each item's nearest items (one row each)")
    p.add_argument('--hnsw-m', dest='hnsw_m', type=int, default=None, help='faiss-approx: M')
    p.add_argument('--ef-construction', dest='ef_construction', type=int, default=None,
                   help='faiss-approx: efConstruction')
    p.add_argument('--ef-search', dest='ef_search', type=int, default=None,
                   help='faiss-approx: efSearch')
    p.add_argument('--neighbour', default=None, help=argparse.SUPPRESS)
    p.add_argument('--ranks-check', dest='ranks_check', type=int, default=None, metavar='NG',
                   help='only time 1 rank (1 and 2 threads) against 2 gloo ranks at this '
                        'gallery size (same metrics checked)')
    for name in ('--rank', '--world', '--rank-threads'):
        p.add_argument(name, type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument('--rank-init', default=None, help=argparse.SUPPRESS)
    p.add_argument('--size', type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument('--nq', type=int, default=None, help=argparse.SUPPRESS)
    harness.add_arguments(p, quick_help='small sizes (1.5k, 3k gallery, 256-d) and a small '
                                        'dense-vs-streaming check: correctness only (< 60 s)')
    args = p.parse_args(argv)
    if harness.is_child(args):
        return harness.child_main(args, SIDES)
    if args.ranks_check and args.rank is not None:
        return _rank_worker(args)
    if args.ranks_check:
        return ranks_check(args)
    harness.resolve(args)
    if args.quick:
        args.sizes, args.dim = [1500, 3000], 256
    if args.scale:
        scale_table(args)
    if args.market:
        nq, ng = (300, 2100) if args.quick else MARKET
        margv = ['--size', str(ng), '--nq', str(nq), '--dim', str(args.dim),
                 '--memory-budget', args.memory_budget]
        margv += ['--repeat', str(args.repeat), '--warmup', '0']
        harness.run(args, [harness.Side('dense', 'dense path'),
                           harness.Side('stream', 'streaming')],
                    reference='dense', check=check_same, argv=margv,
                    title=f'dense vs streaming SIM at {"a small" if args.quick else "Market"} '
                          f'scale ({nq} x {ng}, {args.dim}-d)')


if __name__ == '__main__':
    main()
