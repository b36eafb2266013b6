"""Benchmark the re-rankers against the code they reproduce, like for like.

Rows (each side in its own process, same threads, warm-up, median of 3; modes 1 thread,
2 threads, 2 threads beside a background load; peak memory from a separate run):

* ``sim_sysu`` -- SYSU-MM01 multi-shot scale (3803 queries x 3010 gallery, float64 Euclidean
  distances of L2-normalised features, ``preset='sysu_mm01'``): our SIM ``mode='official'`` vs the
  released ``re_ranking(graph_reasoning(qg, gg, 0.01, 9), gg, 12, 20, 6, 0.3)`` loaded from
  ``--released-sim PATH`` (a local copy of the released ``utils/relevancemetric.py``; never
  shipped here), or without it a slow numpy reference of the released behaviour written here
  (docs/sim.md, "Method"). Check: max |ours - theirs| <= 1e-6.
* ``sim_regdb`` -- RegDB scale (2060 x 2060, ``preset='regdb'``), same pair.
* ``sim_f16`` -- ``input_dtype='float16'`` (as in the released eval_sysu.py) vs the released
  pipeline on float16 distances, SYSU scale. Check: mAP / R1 within 0.1 points.
* ``kr`` -- our k-reciprocal re-ranking vs torchreid's ``re_ranking`` (``--kr-size``).

Memory: peak RSS growth over one call (harness), also printed relative to the bytes of the two
input matrices (``dist_qg`` + ``dist_gg``); our side's memory run first makes one 40 x 60 call
(library and compiled-kernel loading are not SIM's working memory).

Usage: python tools/benchmarks/bench_rerank.py [--quick] [--released-sim PATH]
       [--tasks sim_sysu sim_regdb sim_f16 kr]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os.path as osp
import sys

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
for p in (HERE, ROOT):
    if p not in sys.path:
        sys.path.insert(0, p)

import harness  # noqa: E402

PRESETS = {'sysu_mm01': dict(lam=0.01, K=9, k_q=12, k_g=20, alpha=0.3),
           'regdb': dict(lam=0.1, K=5, k_q=9, k_g=20, alpha=0.7)}
# task -> (preset, float16 inputs)
TASKS = {'sim_sysu': ('sysu_mm01', False), 'sim_regdb': ('regdb', False),
         'sim_f16': ('sysu_mm01', True), 'kr': (None, False)}


# --------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------
def make_features(n_query, n_gallery, dim, n_ids, seed, noise=0.8, shift=0.5):
    """Gaussian identity centres + noise, a fixed modality offset on the queries, L2-normalised."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids, dim)).astype(np.float32)
    gid = np.arange(n_gallery) % n_ids
    qid = rng.integers(0, n_ids, n_query)
    modality = rng.standard_normal((1, dim)).astype(np.float32) * shift
    g = centres[gid] + noise * rng.standard_normal((n_gallery, dim)).astype(np.float32)
    q = centres[qid] + modality + 1.2 * noise * rng.standard_normal((n_query, dim)).astype(
        np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return q.astype(np.float64), g.astype(np.float64), qid, gid


def euclidean(a, b):
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d, 0.0))


def sizes(args, task):
    if args.quick:
        return (160, 200, 32, 20)
    if task == 'sim_regdb':
        return (2060, 2060, 2048, 206)
    if task == 'kr':
        return tuple(args.kr_size) + (2048, max(1, args.kr_size[1] // 10))
    return (3803, 3010, 2048, 301)


def save_inputs(args, task, d):
    nq, ng, dim, n_ids = sizes(args, task)
    q, g, qid, gid = make_features(nq, ng, dim, n_ids, seed=0, noise=2.0 if args.quick else 0.8)
    gg = euclidean(g, g)
    np.fill_diagonal(gg, 0.0)
    np.save(osp.join(d, 'qg.npy'), euclidean(q, g))
    np.save(osp.join(d, 'gg.npy'), gg)
    np.save(osp.join(d, 'qq.npy'), euclidean(q, q))
    np.save(osp.join(d, 'ids.npy'), np.concatenate([qid, gid]))
    with open(osp.join(d, 'task.json'), 'w') as f:
        json.dump(dict(task=task, nq=nq, ng=ng), f)


def map_r1(dist, q_ids, g_ids):
    """mAP and Rank-1 in percent (all same-identity gallery items are positives)."""
    order = np.argsort(dist, axis=1, kind='stable')
    match = g_ids[order] == q_ids[:, None]
    valid = match.any(1)
    cum = np.cumsum(match, 1)
    prec = cum / np.arange(1, match.shape[1] + 1)
    ap = (prec * match).sum(1) / np.maximum(match.sum(1), 1)
    return float(ap[valid].mean() * 100), float(match[valid, 0].mean() * 100)


# --------------------------------------------------------------------------------------------------
# slow reference of the released SIM behaviour (written here from docs/sim.md, not the released
# code): one gallery column at a time, numpy, in the inputs' dtype
# --------------------------------------------------------------------------------------------------
def slow_reference_sim(qg, gg, lam, K, k_q, k_g, alpha, n_graph=20):
    dt = qg.dtype.type
    nq, ng = qg.shape
    A = gg * dt(lam)
    d = qg.copy()
    for j in range(ng):  # in index order, overwriting column j (neighbours t < j are updated)
        nb = np.argsort(A[j])[:n_graph]
        d[:, j] = np.sort(d[:, nb] + A[j, nb], axis=1)[:, :K].mean(axis=1)
    dn = (d * d).astype(np.float32)
    dn /= dn.max(axis=1, keepdims=True)
    gn = (gg.T * gg.T).astype(np.float32)  # gallery rows = columns of D_gg
    gn /= gn.max(axis=1, keepdims=True)
    rank_q = np.argsort(dn, axis=1)[:, :k_q + 1]
    rank_g = np.argsort(gn, axis=1)
    kh = int(np.around(k_g / 2.))

    def recip(j, k):
        f = rank_g[j, :k + 1]
        return f[(rank_g[f, :k + 1] == j).any(1)]

    vg_cols, vg_vals = [], []
    for j in range(ng):
        R = recip(j, k_g)
        E = list(R)
        for c in R:
            Rc = recip(c, kh)
            if len(np.intersect1d(Rc, R)) > 2. / 3 * len(Rc):
                E += list(Rc)
        E = np.unique(E)
        w = np.exp(-gn[j, E])
        vg_cols.append(E)
        vg_vals.append(w / w.sum())
    Vg = np.zeros((ng, ng), np.float32)
    for j in range(ng):
        Vg[j, vg_cols[j]] = vg_vals[j]
    out = np.empty((nq, ng))
    for i in range(nq):
        cols = np.unique(rank_q[i])
        w = np.exp(-dn[i, cols])
        w = w / w.sum()
        S = np.minimum(w[None, :], Vg[:, cols]).sum(1, dtype=np.float32)
        out[i] = (1 - S / (2 - S)) * np.float32(1 - alpha) + dn[i].astype(np.float64) * alpha
    return out


def load_released(path):
    spec = importlib.util.spec_from_file_location('released_relevancemetric', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------------------------------
# sides (run in the child processes)
# --------------------------------------------------------------------------------------------------
def _inputs(d, half):
    with open(osp.join(d, 'task.json')) as f:
        meta = json.load(f)
    qg, gg = np.load(osp.join(d, 'qg.npy')), np.load(osp.join(d, 'gg.npy'))
    if half:
        qg, gg = qg.astype(np.float16), gg.astype(np.float16)
    return meta, qg, gg


def _saver(d, name):
    def to_json(out):
        out = np.asarray(out)
        path = osp.join(d, f'out_{name}.npy')
        np.save(path, out)
        return dict(path=path)
    return to_json


def side_ours(args, d):
    import torch  # noqa: F401  (import cost outside the timed call)

    from asym_plugins.methods.sim import similarity_inference
    meta, qg, gg = _inputs(d, False)
    preset, half = TASKS[meta['task']]
    kw = dict(input_dtype='float16') if half else {}
    # memory run: one 40 x 60 call first, so that the compiled kernel's one-time load (numba,
    # llvmlite: ~100 MB of RSS per process) is not counted as SIM's working memory
    return harness.Prepared(run=lambda: similarity_inference(qg, gg, preset=preset, **kw),
                            memory_warmup=lambda: similarity_inference(
                                qg[:40, :60], gg[:60, :60], preset=preset, **kw),
                            to_json=_saver(d, 'ours'))


def side_theirs(args, d):
    meta, qg, gg = _inputs(d, TASKS[meta_task(d)][1])
    hp = PRESETS[TASKS[meta['task']][0]]
    if args.released_sim:
        R = load_released(args.released_sim)

        def run():
            return R.re_ranking(R.graph_reasoning(qg, gg, hp['lam'], hp['K']), gg, hp['k_q'],
                                hp['k_g'], 6, hp['alpha'])
    else:
        def run():
            return slow_reference_sim(qg, gg, **hp)
    return harness.Prepared(run=run, to_json=_saver(d, 'theirs'))


def meta_task(d):
    with open(osp.join(d, 'task.json')) as f:
        return json.load(f)['task']


def side_kr_ours(args, d):
    import torch  # noqa: F401

    from asym_plugins.methods.sim import k_reciprocal_rerank
    qg, qq, gg = (np.load(osp.join(d, f'{n}.npy')).astype(np.float32) for n in ('qg', 'qq', 'gg'))
    return harness.Prepared(run=lambda: k_reciprocal_rerank(qg, qq, gg, k1=20, k2=6,
                                                            lambda_value=0.3),
                            to_json=_saver(d, 'ours'))


def side_kr_torchreid(args, d):
    from torchreid.reid.utils.rerank import re_ranking
    qg, qq, gg = (np.load(osp.join(d, f'{n}.npy')).astype(np.float32) for n in ('qg', 'qq', 'gg'))
    return harness.Prepared(run=lambda: re_ranking(qg, qq, gg, k1=20, k2=6, lambda_value=0.3),
                            to_json=_saver(d, 'theirs'))


SIDES = {'ours': side_ours, 'theirs': side_theirs, 'kr_ours': side_kr_ours,
         'kr_torchreid': side_kr_torchreid}


# --------------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------------
def make_check(d, task):
    def check(results):
        names = list(results)
        a, b = (np.load(results[n]['path']) for n in names)
        ids = np.load(osp.join(d, 'ids.npy'))
        nq = a.shape[0]
        qid, gid = ids[:nq], ids[nq:]
        diff = float(np.abs(a - b).max())
        ma, mb = map_r1(a, qid, gid), map_r1(b, qid, gid)
        base = map_r1(np.load(osp.join(d, 'qg.npy')), qid, gid)
        msg = (f'max |diff| = {diff:.3g}; mAP/R1 {names[0]} {ma[0]:.2f}/{ma[1]:.2f}, '
               f'{names[1]} {mb[0]:.2f}/{mb[1]:.2f} (no re-ranking: {base[0]:.2f}/{base[1]:.2f})')
        if task == 'sim_f16':
            assert abs(ma[0] - mb[0]) <= 0.1 and abs(ma[1] - mb[1]) <= 0.1, msg
        elif task == 'kr':
            assert diff <= 1e-5, msg
        else:
            assert diff <= 1e-6, msg
        return msg
    return check


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    harness.add_arguments(p, quick_help='160 x 200 inputs, 1 thread, 1 call, no memory run, '
                          'slow reference unless --released-sim (< 60 s)')
    p.add_argument('--released-sim', default=None,
                   help="path to a local copy of the released SIM code's utils/relevancemetric.py")
    p.add_argument('--tasks', nargs='+', choices=sorted(TASKS), default=None,
                   help='default: all (--quick: sim_sysu, sim_f16, kr)')
    p.add_argument('--kr-size', type=int, nargs=2, default=(2060, 2060), metavar=('NQ', 'NG'),
                   help='k-reciprocal task size (torchreid needs ~minutes at SYSU scale)')
    args = p.parse_args()
    if harness.is_child(args):
        return harness.child_main(args, SIDES)
    if args.released_sim and not osp.isfile(args.released_sim):
        raise SystemExit(f'--released-sim {args.released_sim}: no such file (give the path of a '
                         "local copy of the released code's utils/relevancemetric.py)")
    tasks = args.tasks or (['sim_sysu', 'sim_f16', 'kr'] if args.quick else
                           ['sim_sysu', 'sim_regdb', 'sim_f16', 'kr'])
    theirs = ('released SIM code' if args.released_sim else
              'slow reference (released behaviour)')
    summary = []
    for task in tasks:
        with harness.data_dir('bench_rerank_') as d:
            save_inputs(args, task, d)
            nq, ng = sizes(args, task)[:2]
            if task == 'kr':
                sides = [harness.Side('kr_ours', 'our k-reciprocal'),
                         harness.Side('kr_torchreid', "torchreid's re_ranking")]
                ref, title = 'kr_ours', f'k-reciprocal re-ranking, {nq} x {ng} (float32)'
            else:
                preset, half = TASKS[task]
                kind = 'float16 inputs (released eval scripts)' if half else 'float64 inputs'
                sides = [harness.Side('ours', f'our SIM official ({preset})'),
                         harness.Side('theirs', theirs)]
                ref, title = 'ours', f'SIM {task}: {nq} x {ng}, {kind}'
            table = harness.run(args, sides, data=d, reference=ref,
                                check=make_check(d, task), title=title)
            in_mb = (nq * ng + ng * ng) * 8 / 2**20  # float64 inputs (ours)
            if task == 'kr':
                in_mb = (nq * ng + ng * ng + nq * nq) * 4 / 2**20
            for name, mb in table['memory'].items():
                line = (f'{title}: {name} peak extra memory {mb:.0f} MB = '
                        f'{mb / in_mb:.2f} x the input matrices ({in_mb:.0f} MB)')
                print(line)
                summary.append(line)
    if summary:
        print('\n'.join(['', 'memory:'] + summary))


if __name__ == '__main__':
    main()
