"""Benchmark SIM and k-reciprocal re-ranking against torchreid's ``re_ranking``.

(a) SYSU-MM01 multi-shot scale (3803 queries x 3010 gallery, dim 2048): SIM official, SIM equations
    (exact) and our k-reciprocal vs torchreid ``re_ranking``: wall time, speed-up, max |diff| vs
    slow straightforward references (numpy, per-gallery-item loops) on a subset of queries, mAP/R1.
(b) Market-1501 scale (3368 x 15913): SIM equations pruned (``--prune-T``) and our k-reciprocal vs
    torchreid: wall time and peak RSS, each method in its own child process (VmHWM of the child;
    the inputs, loaded from .npy, are included: ~1.27 GB of float32 distances, and so is the
    ~0.75 GB that ``import torch`` alone costs; "extra" = peak - RSS just before the call), and
    the distance of pruned from the exact equations result on a query subset (max |diff|, mAP
    difference, fraction of pruned pairs certified exact).

Features are random with identity structure (Gaussian identity centres + noise, a fixed modality
offset on the queries), L2-normalised; distances are Euclidean, float32.
mAP here: all gallery items of the query's identity are positives (no camera filtering).

Usage: python tools/benchmarks/bench_rerank.py [--quick] [--skip-torchreid]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)



def _import_math_only():
    """Import only the torch/numpy SIM modules (stub parent packages: no mmengine, no registry),
    so a child's RSS is torch + inputs + the method."""
    import importlib
    import types
    pkg = os.path.join(ROOT, 'asym_plugins')
    for name, path in (('asym_plugins', pkg),
                       ('asym_plugins.methods', os.path.join(pkg, 'methods')),
                       ('asym_plugins.methods.sim', os.path.join(pkg, 'methods', 'sim'))):
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.__path__ = [path]
            sys.modules[name] = mod
    api = importlib.import_module('asym_plugins.methods.sim.api')
    kr = importlib.import_module('asym_plugins.methods.sim.k_reciprocal')
    return api, kr


_API, _KR = _import_math_only()
similarity_inference = _API.similarity_inference
sim_graph_distance = _API.sim_graph_distance
SIM_PRESETS = _API.SIM_PRESETS
k_reciprocal_rerank = _KR.k_reciprocal_rerank


# --------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------
def make_features(n_query, n_gallery, dim, n_ids, seed, noise, shift):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_ids, dim, generator=g)
    gid = torch.arange(n_gallery) % n_ids
    qid = torch.randint(0, n_ids, (n_query,), generator=g)
    modality = torch.randn(1, dim, generator=g) * shift
    gal = centres[gid] + noise * torch.randn(n_gallery, dim, generator=g)
    qry = centres[qid] + modality + 1.2 * noise * torch.randn(n_query, dim, generator=g)
    return (torch.nn.functional.normalize(qry, dim=1), torch.nn.functional.normalize(gal, dim=1),
            qid.numpy(), gid.numpy())


def euclidean(a, b, same=False, chunk=2048):
    out = torch.empty((a.shape[0], b.shape[0]), dtype=torch.float32)
    for r0 in range(0, a.shape[0], chunk):
        blk = out[r0:r0 + chunk]
        torch.matmul(a[r0:r0 + chunk], b.T, out=blk)
        blk.mul_(-2).add_(2).clamp_(min=0).sqrt_()
    if same:
        out.fill_diagonal_(0)
    return out.numpy()


def map_r1(dist, q_ids, g_ids, rows=None, chunk=256):
    """mAP and Rank-1 (all same-identity gallery items are positives)."""
    if isinstance(dist, torch.Tensor):
        dist = dist.numpy()
    rows = np.arange(dist.shape[0]) if rows is None else np.asarray(rows)
    gt = torch.as_tensor(g_ids)
    aps, r1 = [], []
    for c0 in range(0, len(rows), chunk):
        r = rows[c0:c0 + chunk]
        d = torch.from_numpy(np.ascontiguousarray(dist[r], dtype=np.float32))
        order = torch.argsort(d, dim=1, stable=True)
        match = (gt[order] == torch.as_tensor(q_ids[r]).unsqueeze(1)).float()
        cum = match.cumsum(1)
        ranks = torch.arange(1, match.shape[1] + 1, dtype=torch.float32)
        npos = match.sum(1).clamp(min=1)
        aps.append(((cum / ranks) * match).sum(1) / npos)
        r1.append(match[:, 0])
    return float(torch.cat(aps).mean()) * 100, float(torch.cat(r1).mean()) * 100


# --------------------------------------------------------------------------------------------------
# slow, straightforward references (numpy, per-gallery-item loops)
# --------------------------------------------------------------------------------------------------
def _stable_first(row, k):
    return np.argsort(row, kind='stable')[:k]


def ref_sim_official(qg, gg, rows, lam, K, k_q, k_g, alpha, n_graph=20):
    """Released-code SIM for the query rows ``rows`` (float64)."""
    qg = qg.astype(np.float64)
    gg = gg.astype(np.float64)
    ng = gg.shape[0]
    n = min(n_graph, ng)
    q = qg[rows]
    dS = np.empty((len(rows), ng))
    for j in range(ng):
        T = _stable_first(gg[j], n)
        vals = np.sort(q[:, T] + lam * gg[j, T][None, :], axis=1)
        dS[:, j] = vals[:, :K].sum(1) / K
    dSn = dS ** 2
    dSn /= dSn.max(1, keepdims=True)
    ggn = gg ** 2
    ggn /= ggn.max(1, keepdims=True)
    Vq = np.zeros((len(rows), ng))
    for i in range(len(rows)):
        t = _stable_first(dSn[i], k_q + 1)
        w = np.exp(-dSn[i, t])
        Vq[i, t] = w / w.sum()
    fwd = np.stack([_stable_first(ggn[j], k_g + 1) for j in range(ng)])
    kh = int(np.around(k_g / 2.))

    def recip(j, k):
        f = fwd[j, :k + 1]
        return f[(fwd[f, :k + 1] == j).any(1)]

    Vg = np.zeros((ng, ng))
    for j in range(ng):
        R = recip(j, k_g)
        E = R
        for c in R:
            Rc = recip(c, kh)
            if len(np.intersect1d(Rc, R)) > 2. / 3 * len(Rc):
                E = np.append(E, Rc)
        E = np.unique(E)
        w = np.exp(-ggn[j, E])
        Vg[j, E] = w / w.sum()
    out = np.empty((len(rows), ng))
    for i in range(len(rows)):
        S = np.minimum(Vq[i][None, :], Vg).sum(1)
        out[i] = (1 - alpha) * (1 - S / (2 - S)) + alpha * dSn[i]
    return out


def ref_sim_equations(qg, gg, rows, lam, K, k_q, k_g, alpha):
    """Eqs. (4)-(8), exact, for the query rows ``rows`` (float64; one query at a time)."""
    qg = qg.astype(np.float64)
    gg = gg.astype(np.float64)
    ng = gg.shape[0]
    E = lam * gg
    np.fill_diagonal(E, 0.0)
    dS = np.empty((len(rows), ng))
    for n, i in enumerate(rows):
        vals = qg[i][:, None] + E  # (t, j)
        dS[n] = np.sort(np.partition(vals, K - 1, axis=0)[:K], axis=0).sum(0) / K
    g2 = gg.copy()
    np.fill_diagonal(g2, -np.inf)
    nb = np.stack([_stable_first(g2[j], k_g + 1) for j in range(ng)])
    member = np.zeros((ng, ng), bool)
    for j in range(ng):
        f = nb[j]
        member[j, f[(nb[f] == j).any(1)]] = True
    out = np.empty((len(rows), ng))
    for n in range(len(rows)):
        Nc = np.zeros(ng, bool)
        Nc[_stable_first(dS[n], k_q)] = True
        inter = (member & Nc[None]).sum(1)
        union = Nc.sum() + member.sum(1) - inter
        out[n] = alpha * dS[n] + (1 - alpha) * (1 - inter / union)
    return out


# --------------------------------------------------------------------------------------------------
# child processes (peak RSS per method)
# --------------------------------------------------------------------------------------------------
def _rss_kb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return -1


def set_threads(n):
    torch.set_num_threads(n)
    try:
        import faiss
        faiss.omp_set_num_threads(n)
    except Exception:
        pass


def child_main(method, data_dir, out_path, prune_T, preset, threads):
    set_threads(threads)
    qg = np.load(os.path.join(data_dir, 'qg.npy'))
    gg = np.load(os.path.join(data_dir, 'gg.npy'))
    qq = np.load(os.path.join(data_dir, 'qq.npy')) if method in ('torchreid', 'kreciprocal') \
        else None
    if method == 'torchreid':
        from torchreid.reid.utils.rerank import re_ranking as fn
    base = _rss_kb('VmRSS')
    t0, c0 = time.perf_counter(), time.process_time()
    stats = {}
    if method == 'torchreid':
        out = fn(qg, qq, gg)
    elif method == 'kreciprocal':
        out = k_reciprocal_rerank(qg, qq, gg)
    elif method == 'sim_pruned':
        out = similarity_inference(qg, gg, mode='equations', prune_T=prune_T, preset=preset)
    elif method == 'sim_official':
        out = similarity_inference(qg, gg, mode='official', preset=preset)
    else:
        raise SystemExit(f'unknown method {method}')
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _rss_kb('VmHWM')
    np.save(os.path.join(data_dir, f'out_{method}.npy'), np.asarray(out, dtype=np.float32))
    with open(out_path, 'w') as f:
        json.dump(dict(method=method, secs=secs, cpu=cpu, base_mb=base / 1024,
                       peak_mb=peak / 1024, stats=stats), f)


def run_child(method, data_dir, prune_T, preset, threads):
    out_path = os.path.join(data_dir, f'res_{method}.json')
    cmd = [sys.executable, os.path.abspath(__file__), '--child', method, '--data', data_dir,
           '--prune-T', str(prune_T), '--preset', preset, '--threads', str(threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not os.path.exists(out_path):
        tail = (proc.stderr or '')[-600:]
        print(f'  [{method}] child failed (rc={proc.returncode}): {tail}')
        return None
    with open(out_path) as f:
        return json.load(f)


# --------------------------------------------------------------------------------------------------
def timed(fn, *a, **kw):
    """(result, wall seconds, CPU seconds of this process)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0, time.process_time() - c0


def part_a(args):
    nq, ng, dim = (600, 480, 256) if args.quick else (3803, 3010, 2048)
    print(f'== (a) SYSU-MM01 multi-shot scale: {nq} queries x {ng} gallery, dim {dim} '
          f'(96 ids), preset sysu_mm01 {SIM_PRESETS["sysu_mm01"]}')
    set_threads(os.cpu_count() or 1)  # data generation only
    q, g, qid, gid = make_features(nq, ng, dim, 96, seed=0, noise=4.0 * (dim / 2048) ** 0.25,
                                   shift=0.6)
    qg, gg, qq = euclidean(q, g), euclidean(g, g, True), euclidean(q, q, True)
    del q, g
    set_threads(args.threads)
    hp = SIM_PRESETS['sysu_mm01']
    rows = np.linspace(0, nq - 1, min(nq, args.ref_queries)).round().astype(int)
    res = {}
    res['SIM official'] = timed(similarity_inference, qg, gg, mode='official', **hp)
    res['SIM equations (exact)'] = timed(similarity_inference, qg, gg, mode='equations', **hp)
    res['k-reciprocal (ours)'] = timed(k_reciprocal_rerank, qg, qq, gg)
    if not args.skip_torchreid:
        from torchreid.reid.utils.rerank import re_ranking
        res['torchreid re_ranking'] = timed(re_ranking, qg, qq, gg)
    t_ref, c_ref = res.get('torchreid re_ranking', (None, None, None))[1:]
    b_map, b_r1 = map_r1(qg, qid, gid)
    print(f'  {"method":26s} {"wall s":>7s} {"CPU s":>7s} {"speed-up wall/CPU":>18s} '
          f'{"mAP":>6s} {"R1":>6s}')
    print(f'  {"baseline (Euclidean)":26s} {"":>7s} {"":>7s} {"":>18s} {b_map:6.2f} {b_r1:6.2f}')
    for name, (out, secs, cpu) in res.items():
        m, r = map_r1(out, qid, gid)
        ratio = f'{t_ref / secs:7.1f}x /{c_ref / cpu:6.1f}x' if t_ref else 'n/a'
        print(f'  {name:26s} {secs:7.2f} {cpu:7.2f} {ratio:>18s} {m:6.2f} {r:6.2f}')
    print(f'  max |diff| vs slow references on {len(rows)} query rows '
          '(float32 run vs float64 ref):')
    t0 = time.perf_counter()
    ref = ref_sim_official(qg, gg, rows, **hp)
    print(f'    SIM official   : {np.abs(res["SIM official"][0][rows] - ref).max():.2e} '
          f'(reference {time.perf_counter() - t0:.1f} s)')
    t0 = time.perf_counter()
    ref = ref_sim_equations(qg, gg, rows, **hp)
    print(f'    SIM equations  : {np.abs(res["SIM equations (exact)"][0][rows] - ref).max():.2e} '
          f'(reference {time.perf_counter() - t0:.1f} s)')
    if 'torchreid re_ranking' in res:
        d = np.abs(res['k-reciprocal (ours)'][0] - res['torchreid re_ranking'][0]).max()
        print(f'    k-reciprocal vs torchreid (all rows): {d:.2e}')


def part_b(args):
    nq, ng, dim, nid = (500, 2400, 128, 120) if args.quick else (3368, 15913, args.market_dim, 751)
    print(f'== (b) Market-1501 scale: {nq} queries x {ng} gallery, dim {dim} ({nid} ids); '
          f'SIM equations pruned T={args.prune_T}, preset {args.preset}')
    set_threads(os.cpu_count() or 1)  # data generation only
    q, g, qid, gid = make_features(nq, ng, dim, nid, seed=1, noise=2.5 * (dim / 512) ** 0.25,
                                   shift=0.0)
    with tempfile.TemporaryDirectory(prefix='bench_rerank_') as tmp:
        np.save(os.path.join(tmp, 'qg.npy'), euclidean(q, g))
        np.save(os.path.join(tmp, 'qq.npy'), euclidean(q, q, True))
        np.save(os.path.join(tmp, 'gg.npy'), euclidean(g, g, True))
        del q, g
        set_threads(args.threads)
        methods = ['sim_pruned', 'kreciprocal'] + ([] if args.skip_torchreid else ['torchreid'])
        res = {}
        for m in methods:
            r = run_child(m, tmp, args.prune_T, args.preset, args.threads)
            if r is not None:
                res[m] = r
        qg = np.load(os.path.join(tmp, 'qg.npy'), mmap_mode='c')
        t_ref = res['torchreid']['secs'] if 'torchreid' in res else None
        c_ref = res['torchreid']['cpu'] if 'torchreid' in res else None
        b_map, b_r1 = map_r1(qg, qid, gid)
        names = {'sim_pruned': f'SIM equations T={args.prune_T}', 'kreciprocal':
                 'k-reciprocal (ours)', 'torchreid': 'torchreid re_ranking'}
        print(f'  {"method":26s} {"wall s":>7s} {"CPU s":>7s} {"speed-up wall/CPU":>18s} '
              f'{"peak RSS MB":>11s} {"before":>7s} {"extra":>6s} {"mAP":>6s} {"R1":>6s}')
        print(f'  {"baseline (Euclidean)":26s} {"":>7s} {"":>7s} {"":>18s} {"":>11s} {"":>7s} '
              f'{"":>6s} {b_map:6.2f} {b_r1:6.2f}')
        outs = {}
        for m, r in res.items():
            outs[m] = np.load(os.path.join(tmp, f'out_{m}.npy'), mmap_mode='c')
            mp, r1 = map_r1(outs[m], qid, gid)
            ratio = f'{t_ref / r["secs"]:7.1f}x /{c_ref / r["cpu"]:6.1f}x' if t_ref else 'n/a'
            print(f'  {names[m]:26s} {r["secs"]:7.2f} {r["cpu"]:7.2f} {ratio:>18s} '
                  f'{r["peak_mb"]:11.0f} {r["base_mb"]:7.0f} {r["peak_mb"] - r["base_mb"]:6.0f} '
                  f'{mp:6.2f} {r1:6.2f}')
        if 'kreciprocal' in outs and 'torchreid' in outs:
            d = max(float(np.abs(outs['kreciprocal'][r0:r0 + 256] - outs['torchreid'][r0:r0 + 256])
                          .max()) for r0 in range(0, nq, 256))
            print(f'  k-reciprocal vs torchreid: max |diff| {d:.2e} (all rows)')
        # pruned vs exact on a query subset
        gg = np.load(os.path.join(tmp, 'gg.npy'))
        rows = np.linspace(0, nq - 1, min(nq, args.exact_queries)).round().astype(int)
        sub = np.ascontiguousarray(qg[rows])
        st_p, st_e = {}, {}
        hp = dict(SIM_PRESETS[args.preset])
        _, tp, _ = timed(sim_graph_distance, sub, gg, mode='equations', lam=hp['lam'], K=hp['K'],
                      prune_T=args.prune_T, stats=st_p)
        _, te, _ = timed(sim_graph_distance, sub, gg, mode='equations', lam=hp['lam'], K=hp['K'],
                      stats=st_e)
        pr = similarity_inference(sub, gg, mode='equations', prune_T=args.prune_T, **hp)
        ex = similarity_inference(sub, gg, mode='equations', **hp)
        mp, _ = map_r1(pr, qid[rows], gid)
        me, _ = map_r1(ex, qid[rows], gid)
        cert = 1 - st_p['uncertified'] / st_p['pairs']
        print(f'  pruned (T={args.prune_T}) vs exact on {len(rows)} queries: max |diff| '
              f'{np.abs(pr - ex).max():.2e}, mAP {mp:.2f} vs {me:.2f} (diff {mp - me:+.3f}); '
              f'{cert * 100:.3f}% of pruned pairs certified exact; d_S time pruned {tp:.2f} s, '
              f'exact {te:.2f} s (stages {st_e["stages"]})')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='small sizes (smoke run)')
    ap.add_argument('--skip-torchreid', action='store_true', help='do not run torchreid')
    ap.add_argument('--parts', default='ab', help="which parts to run: 'a', 'b' or 'ab'")
    ap.add_argument('--prune-T', type=int, default=100)
    ap.add_argument('--preset', default='sysu_mm01', choices=sorted(SIM_PRESETS))
    ap.add_argument('--market-dim', type=int, default=512,
                    help='feature dim for (b) (only the distance computation depends on it)')
    ap.add_argument('--ref-queries', type=int, default=24)
    ap.add_argument('--exact-queries', type=int, default=200)
    ap.add_argument('--threads', type=int, default=1,
                    help='torch/faiss intra-op threads (default 1: torchreid re_ranking is '
                         'single-threaded numpy, and 1 thread is immune to CPU contention)')
    ap.add_argument('--child', default=None, help=argparse.SUPPRESS)
    ap.add_argument('--data', default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(args.child, args.data, os.path.join(args.data, f'res_{args.child}.json'),
                   args.prune_T, args.preset, args.threads)
        return
    set_threads(args.threads)
    if args.quick:
        args.ref_queries = min(args.ref_queries, 8)
        args.exact_queries = min(args.exact_queries, 50)
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'cpus {os.cpu_count()}, load avg {os.getloadavg()[0]:.1f}')
    t0 = time.perf_counter()
    if 'a' in args.parts:
        part_a(args)
    if 'b' in args.parts:
        part_b(args)
    print(f'total {time.perf_counter() - t0:.0f} s, load avg {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
