"""Re-rank saved features with SIM (or k-reciprocal re-ranking) and print metrics before/after.

The features come from ``tools/test.py CONFIG CKPT --save-features feats.npz`` (keys ``qf, gf,
q_pids, g_pids, q_camids, g_camids``). The distance is the one the file's evaluation used (the
file records its test metric's ``metric`` and ``normalize_feature``), so the "before" numbers
equal ``tools/test.py``'s; a file without that record gets Euclidean distances of L2-normalised
features (what SIM's released code uses). ``--metric`` / ``--normalize`` / ``--no-normalize``
override either.

SIM is a cross-modality re-ranker (infrared <-> visible): the tool warns when the file's query
and gallery are of one modality, and when SIM's ``k_g`` is far above the number of gallery
images per identity (its reciprocal sets then reach other identities).

Examples::
    python tools/rerank.py feats.npz                                  # SIM, official, SYSU preset
    python tools/rerank.py feats.npz --preset regdb --alpha 0.5       # explicit values win
    python tools/rerank.py feats.npz --components graph               # ablation: graph inference
    python tools/rerank.py feats.npz --mode equations --prune-T 100   # eqs. (4)-(8), pruned
    python tools/rerank.py feats.npz --method k_reciprocal --k1 20 --k2 6
    python tools/rerank.py feats.npz --swap                           # gallery -> query direction
    python tools/rerank.py feats.npz --protocol sysu --shots 10 --trials 10
    python tools/rerank.py feats.npz --stream --memory-budget 4GB --topk 100 --out rank.npz
    python tools/rerank.py feats.npz --stream --neighbours faiss-approx --ef-search 64

``--stream`` (SIM, market protocol; docs/sim.md "Large galleries"): the gallery structure is
built once in tiles and the queries are re-ranked, evaluated and ranked in chunks within
``--memory-budget``, never holding a query x gallery or gallery x gallery matrix; the same
numbers as without it. ``--out`` saves each query's ``--topk`` nearest gallery items.
``--neighbours faiss`` lets faiss' exact index propose the gallery's nearest items (same
numbers); ``faiss-approx`` an HNSW index (``--hnsw-m``, ``--ef-construction``,
``--ef-search``), ``bf16-approx`` a bfloat16 product of the features: approximate lists.

Protocols: ``market`` (default): the same pid AND camid is excluded, CMC over the full
ranking; ``sysu``: the SYSU-MM01 rules (0-based camids: infrared queries camids 2/5, visible
gallery; cam-3 queries never see cam-2 images; identity-level CMC) on ``--trials`` random
galleries of ``--shots`` images per (pid, camera), re-ranking each trial's gallery.
"""
import argparse
import json
import os
import sys
import time
from typing import Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

SIM_ARGS = ('lam', 'K', 'k_q', 'k_g', 'alpha', 'n_graph', 'prune_T', 'graph_update',
            'input_dtype', 'ties')


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='SIM / k-reciprocal re-ranking of saved features (tools/test.py '
                    '--save-features), metrics before and after.')
    p.add_argument('features', help='.npz with qf, gf, q_pids, g_pids, q_camids, g_camids')
    p.add_argument('--method', choices=['sim', 'k_reciprocal'], default='sim')
    g = p.add_argument_group('SIM (defaults: the preset\'s values)')
    g.add_argument('--mode', choices=['official', 'equations'], default='official',
                   help='official: the authors\' released code; equations: eqs. (4)-(8)')
    g.add_argument('--preset', choices=['sysu_mm01', 'regdb'], default=None,
                   help='released hyper-parameters (default sysu_mm01)')
    g.add_argument('--lam', type=float, help='lambda, weight of gallery-gallery edges')
    g.add_argument('--K', type=int, help='number of shortest paths averaged')
    g.add_argument('--k-q', dest='k_q', type=int, help='query-side neighbours')
    g.add_argument('--k-g', dest='k_g', type=int, help='gallery-side reciprocal neighbours')
    g.add_argument('--alpha', type=float, help='weight of the graph distance in the fusion')
    g.add_argument('--n-graph', dest='n_graph', type=int, default=None,
                   help='official mode: candidate intermediates per gallery item (20)')
    g.add_argument('--prune-T', dest='prune_T', type=int, default=None,
                   help='equations mode: prune intermediates to each query\'s T nearest')
    g.add_argument('--graph-update', dest='graph_update', choices=['sequential', 'parallel'],
                   default=None, help="official mode: 'sequential' = the released in-place "
                   "column update (default); 'parallel' = every column from the original D_qg")
    g.add_argument('--input-dtype', dest='input_dtype', choices=['float16'], default=None,
                   help='official mode: float16 distances and arithmetic, as in the released '
                        'eval_sysu.py / eval_regdb.py')
    g.add_argument('--ties', choices=['numpy', 'stable'], default=None,
                   help="official mode: neighbour-list ties in numpy.argsort's order (default, "
                        "as released) or lower index first")
    g.add_argument('--components', choices=['both', 'graph', 'mutual'], default='both',
                   help='ablation: graph inference only, mutual-NN inference only, or SIM')
    k = p.add_argument_group('k-reciprocal')
    k.add_argument('--k1', type=int, default=20)
    k.add_argument('--k2', type=int, default=6)
    k.add_argument('--lambda-value', dest='lambda_value', type=float, default=0.3)
    e = p.add_argument_group('evaluation')
    e.add_argument('--metric', choices=['euclidean', 'sqeuclidean', 'cosine'], default=None,
                   help="distance (default: the one the file's evaluation used, else "
                        'euclidean)')
    e.add_argument('--normalize', action=argparse.BooleanOptionalAction, default=None,
                   help="L2-normalise the features first (default: as the file's evaluation "
                        'did, else yes)')
    e.add_argument('--swap', action='store_true',
                   help='swap query and gallery (e.g. visible -> infrared from a file saved '
                        'with infrared queries)')
    e.add_argument('--protocol', choices=['market', 'sysu'], default='market')
    e.add_argument('--sysu-mode', choices=['all', 'indoor'], default='all')
    e.add_argument('--shots', type=int, default=10, help='sysu: images per (pid, camera)')
    e.add_argument('--trials', type=int, default=10, help='sysu: random galleries')
    e.add_argument('--seed', type=int, default=0, help='sysu: gallery sampling seed')
    e.add_argument('--ranks', type=int, nargs='+', default=None,
                   help='CMC ranks printed (default 1 5 10; sysu 1 10 20)')
    s = p.add_argument_group('large galleries (SIM only)')
    s.add_argument('--stream', action='store_true',
                   help='streaming SIM from the features in bounded memory (market protocol)')
    s.add_argument('--memory-budget', dest='memory_budget', default='4GB',
                   help="--stream: memory for everything but the features (e.g. 4GB, 512MB)")
    s.add_argument('--neighbours', default='exact',
                   choices=['exact', 'faiss', 'faiss-approx', 'bf16-approx'],
                   help="--stream: the gallery's nearest items from row tiles of D_gg (exact), "
                        "faiss' exact index (same results), an HNSW index (faiss-approx) or a "
                        'bfloat16 product (bf16-approx): approximate lists, cheaper gallery '
                        'pass')
    s.add_argument('--hnsw-m', dest='hnsw_m', type=int, default=None,
                   help='--neighbours faiss-approx: HNSW links per node (default 32)')
    s.add_argument('--ef-construction', dest='ef_construction', type=int, default=None,
                   help='--neighbours faiss-approx: HNSW efConstruction (default 80)')
    s.add_argument('--ef-search', dest='ef_search', type=int, default=None,
                   help='--neighbours faiss-approx: HNSW efSearch (default 64)')
    s.add_argument('--topk', type=int, default=100,
                   help='--stream: gallery items kept per query for --out')
    s.add_argument('--out', metavar='PATH',
                   help='--stream: write the re-ranked top-k ranking (.npz: topk_index, '
                        'topk_distance, q_pids, g_pids, q_camids, g_camids)')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--threads', type=int, default=0,
                   help='torch CPU threads (0: torch\'s default)')
    p.add_argument('--json', metavar='PATH', help='also write the results as JSON')
    p.add_argument('--debug', action='store_true',
                   help='show the traceback when the run stops on an input error '
                        '(also ASYM_DEBUG=1)')
    return p.parse_args(argv)


def reranker_from_args(args):
    """The RERANKERS object for ``args`` (SIMReranker or KReciprocalReranker)."""
    from asym_plugins.methods.sim import KReciprocalReranker, SIMReranker
    if args.method == 'k_reciprocal':
        return KReciprocalReranker(k1=args.k1, k2=args.k2, lambda_value=args.lambda_value,
                                   device=args.device)
    hp = {name: getattr(args, name) for name in SIM_ARGS if getattr(args, name) is not None}
    return SIMReranker(mode=args.mode, preset=args.preset, components=args.components,
                       device=args.device, **hp)


def distance_settings(args, settings: Dict) -> str:
    """Fill ``args.metric`` / ``args.normalize`` (explicit > the file's record > euclidean of
    L2-normalised features); returns where they came from."""
    source = []
    for name, key, default in (('metric', 'metric', 'euclidean'),
                               ('normalize', 'normalize_feature', True)):
        if getattr(args, name) is not None:
            source.append(f'{name}: command line')
        elif key in settings:
            setattr(args, name, settings[key])
            source.append(f"{name}: the file's evaluation")
        else:
            setattr(args, name, default)
            source.append(f'{name}: default')
    return ', '.join(source)


def input_warnings(args, feats: Dict, settings: Dict) -> List[str]:
    """What makes the result misleading: SIM on a same-modality gallery, ``k_g`` far above
    the gallery images per identity, a file scored by a metric with its own ranking."""
    import numpy as np
    out = []
    cls = settings.get('metric_class')
    if cls and cls not in ('ReIDMetric', 'SYSUMetric', 'RegDBMetric'):
        out.append(f'the file was scored by {cls}, which ranks with a measure of its own; '
                   f'"before" here uses the {args.metric} distance of the features, so it '
                   'differs from tools/test.py')
    if args.method != 'sim':
        return out
    q_mod, g_mod = settings.get('q_modalities'), settings.get('g_modalities')
    if q_mod is not None and g_mod is not None:
        if set(q_mod.tolist()) == set(g_mod.tolist()) and len(set(q_mod.tolist())) == 1:
            out.append(f'query and gallery are both {q_mod[0]}: SIM is made for cross-modality '
                       'retrieval (infrared <-> visible); on a same-modality gallery it usually '
                       'lowers R1 (use --method k_reciprocal there)')
    from asym_plugins.methods.sim import resolve_sim_params
    hp = {n: getattr(args, n) for n in SIM_ARGS if getattr(args, n) is not None}
    k_g = resolve_sim_params(args.mode, args.preset, **hp)['k_g']
    per_id = np.unique(feats['g_pids'], return_counts=True)[1]
    typical = int(np.median(per_id))
    if k_g > 2 * typical:
        out.append(f'k_g={k_g} is far above the {typical} gallery images of a typical identity '
                   f'(median): its reciprocal sets reach other identities; try --k-g '
                   f'{max(1, typical)}')
    return out


def _fmt(res: Dict[str, float]) -> str:
    return '  '.join(f'{k} {v:6.2f}' for k, v in res.items())


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from asym_plugins.evaluation import compute_distance, evaluate_rank, l2_normalize
    from asym_plugins.evaluation.metrics.reid_metric import load_feature_settings, load_features_npz
    from asym_plugins.evaluation.protocols import (
        SYSU_QUERY_CAMIDS,
        SYSU_VISIBLE_CAMIDS,
        evaluate_sysu,
    )
    feats = load_features_npz(args.features, swap=args.swap)
    settings = load_feature_settings(args.features, swap=args.swap)
    source = distance_settings(args, settings)
    warnings = input_warnings(args, feats, settings)
    for w in warnings:
        print(f'warning: {w}', file=sys.stderr)
    ranks = tuple(args.ranks or ((1, 10, 20) if args.protocol == 'sysu' else (1, 5, 10)))
    if args.protocol == 'sysu':
        bad_q = sorted(set(feats['q_camids'].tolist()) - set(SYSU_QUERY_CAMIDS))
        bad_g = sorted(set(feats['g_camids'].tolist()) - set(SYSU_VISIBLE_CAMIDS))
        if bad_q or bad_g:
            from asym_plugins.engine.cli import ConfigError
            raise ConfigError(
                f'--protocol sysu needs SYSU-MM01 camids (0-based): infrared queries from '
                f'camids {SYSU_QUERY_CAMIDS}, a visible gallery from {SYSU_VISIBLE_CAMIDS}; '
                f'got query camids {bad_q} / gallery camids {bad_g} outside them'
                + (' (--swap makes the visible set the query)' if args.swap else '')
                + '. Use --protocol market.')
    if args.stream:
        return _main_stream(args, feats, source, warnings, ranks)
    if args.out:
        from asym_plugins.engine.cli import ConfigError
        raise ConfigError('--out writes the ranking of --stream; add --stream')
    reranker = reranker_from_args(args)
    device = torch.device(args.device)
    qf = torch.from_numpy(feats['qf']).float().to(device)
    gf = torch.from_numpy(feats['gf']).float().to(device)

    def distance(a, b):
        if args.normalize:
            a, b = l2_normalize(a), l2_normalize(b)
        return compute_distance(a, b, args.metric)

    print(f'features: {args.features}{" (swapped)" if args.swap else ""}: {len(qf)} queries x '
          f'{len(gf)} gallery, dim {qf.shape[1]}; {args.metric} distance'
          f'{" of L2-normalised features" if args.normalize else ""} ({source}); protocol '
          f'{args.protocol}')
    print(f'reranker: {reranker!r}')
    results = {}
    seconds = 0.0
    if args.protocol == 'market':
        dist = distance(qf, gf)
        results['before'] = evaluate_rank(dist, feats['q_pids'], feats['g_pids'],
                                          feats['q_camids'], feats['g_camids'],
                                          max_rank=max(ranks)).to_dict(ranks)
        dist_gg = distance(gf, gf) if getattr(reranker, 'needs_gg', True) else None
        dist_qq = distance(qf, qf) if getattr(reranker, 'needs_qq', False) else None
        start = time.perf_counter()
        reranked = reranker(dist, dist_gg, dist_qq)
        seconds = time.perf_counter() - start
        results['after'] = evaluate_rank(reranked, feats['q_pids'], feats['g_pids'],
                                         feats['q_camids'], feats['g_camids'],
                                         max_rank=max(ranks)).to_dict(ranks)
    else:
        common = dict(mode=args.sysu_mode, shots=args.shots, trials=args.trials, seed=args.seed,
                      distance=distance, max_rank=max(ranks), log=False)
        ids = (feats['q_pids'], feats['g_pids'], feats['q_camids'], feats['g_camids'])
        results['before'] = evaluate_sysu(qf, gf, *ids, **common).to_dict(ranks)
        start = time.perf_counter()
        results['after'] = evaluate_sysu(qf, gf, *ids, reranker=reranker,
                                         **common).to_dict(ranks)
        seconds = time.perf_counter() - start
    print(f'before: {_fmt(results["before"])}')
    print(f'after:  {_fmt(results["after"])}   ({args.method}, {seconds:.2f} s)')
    results.update(reranker=repr(reranker), seconds=seconds, num_query=len(qf),
                   num_gallery=len(gf), protocol=args.protocol, swap=args.swap,
                   metric=args.metric, normalize=bool(args.normalize), warnings=warnings)
    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(folder, exist_ok=True)
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=2)
    return results


def _main_stream(args, feats: Dict, source: str, warnings: List[str], ranks) -> Dict:
    """``--stream``: before and after from the features, chunk by chunk."""
    import numpy as np

    from asym_plugins.engine.cli import ConfigError
    from asym_plugins.methods.sim import similarity_inference_features
    from asym_plugins.methods.sim.streaming import parse_memory
    fp = {k: getattr(args, k) for k in ('hnsw_m', 'ef_construction', 'ef_search')
          if getattr(args, k) is not None}
    if fp and args.neighbours != 'faiss-approx':
        raise ConfigError(f'--{next(iter(fp)).replace("_", "-")} sets the HNSW index of '
                          '--neighbours faiss-approx; add --neighbours faiss-approx')
    if args.method != 'sim' or args.protocol != 'market':
        raise ConfigError('--stream re-ranks with SIM under the market protocol; drop --stream '
                          'for --method k_reciprocal or --protocol sysu')
    try:
        budget = parse_memory(args.memory_budget)
    except ValueError as e:
        raise ConfigError(f'--memory-budget: {e}') from e
    if args.topk < 1:
        raise ConfigError(f'--topk must be >= 1, got {args.topk}')
    hp = {name: getattr(args, name) for name in SIM_ARGS if getattr(args, name) is not None}
    ids = dict(q_pids=feats['q_pids'], g_pids=feats['g_pids'], q_camids=feats['q_camids'],
               g_camids=feats['g_camids'])
    common = dict(metric=args.metric, normalize=bool(args.normalize), device=args.device,
                  memory_budget=budget, max_rank=max(ranks), progress=None, **ids)
    qf = np.asarray(feats['qf'], dtype=np.float32)  # float32, as the dense path here
    gf = np.asarray(feats['gf'], dtype=np.float32)
    print(f'features: {args.features}{" (swapped)" if args.swap else ""}: {len(qf)} queries x '
          f'{len(gf)} gallery, dim {qf.shape[1]}; {args.metric} distance'
          f'{" of L2-normalised features" if args.normalize else ""} ({source}); protocol '
          f'market; streaming, memory budget {args.memory_budget}')
    before = similarity_inference_features(qf, gf, args.mode, rerank=False, **common)
    start = time.perf_counter()
    if args.neighbours in ('faiss', 'faiss-approx'):
        from asym_plugins.methods.sim.faiss_index import import_faiss
        try:
            import_faiss()
        except ImportError as e:
            raise ConfigError(f'--neighbours {args.neighbours}: {e}') from e
    after = similarity_inference_features(qf, gf, args.mode, preset=args.preset,
                                          components=args.components, topk=args.topk,
                                          neighbours=args.neighbours, faiss_params=fp or None,
                                          **common, **hp)
    seconds = time.perf_counter() - start
    results = {'before': before.metrics.to_dict(ranks), 'after': after.metrics.to_dict(ranks)}
    print(f'before: {_fmt(results["before"])}')
    print(f'after:  {_fmt(results["after"])}   (sim {args.mode}, streamed: '
          f'{after.num_chunks} chunks of {after.chunk_queries} queries, gallery tiles of '
          f'{after.tile_rows} rows, {args.neighbours} neighbours; gallery '
          f'{after.seconds["gallery"]:.2f} s, queries '
          f'{after.seconds["queries"]:.2f} s)')
    results.update(reranker=f'similarity_inference_features(mode={args.mode!r}, '
                            f'preset={args.preset!r}, {hp})',
                   seconds=seconds, num_query=len(qf), num_gallery=len(gf), protocol='market',
                   swap=args.swap, metric=args.metric, normalize=bool(args.normalize),
                   warnings=warnings, stream=dict(memory_budget=budget,
                                                  chunk_queries=after.chunk_queries,
                                                  num_chunks=after.num_chunks,
                                                  tile_rows=after.tile_rows,
                                                  neighbours=args.neighbours,
                                                  faiss_params=fp,
                                                  seconds=after.seconds))
    if args.out:
        folder = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(folder, exist_ok=True)
        np.savez(args.out, topk_index=after.topk_index, topk_distance=after.topk_distance,
                 **{k: np.asarray(v) for k, v in ids.items()})
        print(f'top-{after.topk_index.shape[1]} ranking written to {args.out}')
    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(folder, exist_ok=True)
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == '__main__':
    from asym_plugins.engine.cli import run_cli
    run_cli(main)
