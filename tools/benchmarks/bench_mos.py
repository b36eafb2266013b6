"""MoS cost benchmark: one training iteration (MoS losses + CP vs the BoT baseline), and the
test-time ranking at Market-1501 scale (hard Jaccard all pairs + CP re-scoring of the top-R).

Training (batch 64 = 16 ids x 4, C = 2048), three variants:

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
3368 queries x 15913 gallery, C = 2048: hard Jaccard all pairs, CP re-scoring of the top-R (the
Jaccard matrix is built untimed first) and the Euclidean distance matrix as the reference.
``--rank-queries n`` times the first n queries; the lines after the table scale that linearly
to ``--num-query`` (the cost is linear in the queries); 0 = all.

Every variant / stage runs in its own process with the same thread settings (``harness.py``):
warm-up, median of ``--repeat`` timed calls, the harness's thread modes; peak memory from a
separate run (CPU: peak RSS growth over the call, CUDA: ``max_memory_allocated``).
Correctness (also ``--quick``): finite losses; the hard Jaccard of the first queries equals a
brute force ``sum(min) / sum(max)``; the CP re-scored similarities are finite.

Examples::
    python tools/benchmarks/bench_mos.py --quick
    python tools/benchmarks/bench_mos.py --modes 1 2                # CPU, both parts
    python tools/benchmarks/bench_mos.py --device cuda --features resnet50 --rank-queries 0
"""
import argparse
import math
import os.path as osp
import sys

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, osp.dirname(osp.dirname(HERE)))

import harness  # noqa: E402
import torch  # noqa: E402


# ------------------------------------------------------------------ training iteration
def build_train_variants(args, device):
    from asym_plugins.methods.mos import (
        JaccardTripletLoss,
        PositiveCooccurrencePrior,
        pairwise_conflict_penalty,
    )
    from asym_plugins.models import (
        BNNeckHead,
        CrossEntropyLabelSmooth,
        ReIDResNet,
        SmallReIDNet,
        TripletLoss,
    )
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
        return float(loss.detach())

    def mos_step(train_cp):
        g = torch.relu(features('max'))
        f_i, logits = heads['mos'](g)
        prior.update(g.detach(), labels)
        extra = 1.0 * pairwise_conflict_penalty(g, g, prior.M_p, eps=1.0, topk=32) \
            if train_cp else None
        loss = ce(logits, labels) + jac(g, labels, extra_distance=extra)
        loss.backward()
        return float(loss.detach())

    return {'baseline': baseline_step, 'mos': lambda: mos_step(False),
            'mos+cp': lambda: mos_step(True)}


TRAIN_VARIANTS = ('baseline', 'mos', 'mos+cp')
TRAIN_LABELS = {'baseline': 'BoT baseline iter', 'mos': 'MoS iter', 'mos+cp': 'MoS + CP term iter'}
RANK_STAGES = ('euclidean', 'jaccard', 'cp')
RANK_LABELS = {'euclidean': 'Euclidean distances', 'jaccard': 'hard Jaccard all pairs',
               'cp': 'CP re-score top-R'}


def _prepared(device, run, to_json, memory_warmup=None):
    return harness.Prepared(
        run=run, to_json=to_json, memory_warmup=memory_warmup,
        sync=(lambda: torch.cuda.synchronize(device)) if device.type == 'cuda' else None,
        cuda_device=device if device.type == 'cuda' else None)


def train_side(feats, variant):
    def factory(args, data):
        torch.manual_seed(0)
        device = torch.device(args.device)
        a = argparse.Namespace(**{**vars(args), 'features': feats})
        fn = build_train_variants(a, device)[variant]
        return _prepared(device, fn, lambda loss: dict(loss=loss), memory_warmup=fn)
    return factory


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


def rank_side(stage):
    def factory(args, data):
        from asym_plugins.evaluation.distance import compute_distance
        from asym_plugins.methods.mos import hard_jaccard_similarity, rescore_topr
        device = torch.device(args.device)
        qf, gf, M_p = rank_inputs(args, device)

        def jaccard():
            return hard_jaccard_similarity(qf, gf, chunk_size=args.jaccard_chunk)

        if stage == 'euclidean':
            return _prepared(device, lambda: compute_distance(qf, gf, 'euclidean'),
                             lambda d: dict(finite=bool(torch.isfinite(d).all())))
        if stage == 'jaccard':
            def to_json(sim):  # brute force sum(min) / sum(max) on the first queries
                q, g = qf[:4].double(), gf.double()
                ref = (torch.minimum(q[:, None], g[None]).sum(2)
                       / torch.maximum(q[:, None], g[None]).sum(2).clamp(min=1e-12))
                return dict(finite=bool(torch.isfinite(sim).all()),
                            max_err=float((sim[:4].double() - ref).abs().max()))
            return _prepared(device, jaccard, to_json)
        sim = jaccard()
        return _prepared(device, lambda: rescore_topr(sim, qf, gf, M_p, cp_lambda=0.1, eps=1.0,
                                                      topk=args.cp_topk, top_r=args.top_r),
                         lambda out: dict(finite=bool(torch.isfinite(out).all())))
    return factory


class _Sides(dict):
    """Side name -> factory: ``train:<features>:<variant>`` and ``rank:<stage>``."""

    def __missing__(self, name):
        kind, _, rest = name.partition(':')
        if kind == 'train':
            feats, _, variant = rest.partition(':')
            return train_side(feats, variant)
        return rank_side(rest)

    def __contains__(self, name):
        kind, _, rest = name.partition(':')
        return (kind == 'train' and rest.partition(':')[2] in TRAIN_VARIANTS) or \
            (kind == 'rank' and rest in RANK_STAGES)


def check_train(results):
    bad = {k: r['loss'] for k, r in results.items() if not math.isfinite(r['loss'])}
    assert not bad, f'non-finite losses {bad}'
    return 'losses finite: ' + ', '.join(f'{k.split(":")[-1]} {r["loss"]:.4f}'
                                         for k, r in results.items())


def check_rank(results):
    bad = [k for k, r in results.items() if not r['finite']]
    assert not bad, f'non-finite outputs in {bad}'
    err = results.get('rank:jaccard', {}).get('max_err')
    if err is not None:
        assert err <= 1e-5, f'hard Jaccard differs from the brute force by {err:.2e}'
    return ('all outputs finite' + ('' if err is None else
                                     f'; hard Jaccard vs brute force max |diff| {err:.1e}'))


# ------------------------------------------------------------------ driver
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu')
    p.add_argument('--part', choices=['train', 'rank', 'both'], default='both')
    p.add_argument('--features', choices=['random', 'small', 'resnet50'], nargs='+',
                   default=['random', 'small'])
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--channels', type=int, default=2048)
    p.add_argument('--update-topk', type=int, default=None,
                   help='restricted prior update (top-k of each positive union); None = full')
    p.add_argument('--num-query', type=int, default=3368)
    p.add_argument('--num-gallery', type=int, default=15913)
    p.add_argument('--rank-queries', type=int, default=128,
                   help='queries actually ranked (time scaled to --num-query); 0 = all')
    p.add_argument('--jaccard-chunk', type=int, default=256)
    p.add_argument('--top-r', type=int, default=100)
    p.add_argument('--cp-topk', type=int, default=32)
    harness.add_arguments(p)
    args = p.parse_args(argv)
    if args.quick:  # small shapes: a correctness smoke run
        args.features, args.batch, args.channels = ['random'], 16, 256
        args.num_query, args.num_gallery, args.rank_queries = 64, 2000, 32
    return args


def main(argv=None):
    args = parse_args(argv)
    if harness.is_child(args):
        return harness.child_main(args, _Sides())
    if args.part in ('train', 'both'):
        for feats in args.features:
            sides = [harness.Side(f'train:{feats}:{v}', TRAIN_LABELS[v]) for v in TRAIN_VARIANTS]
            harness.run(args, sides, reference=f'train:{feats}:baseline', check=check_train,
                        title=f'MoS training iteration vs baseline, seconds per iteration: '
                        f'features={feats}, batch {args.batch}, C={args.channels}, '
                        f'update_topk={args.update_topk}, device {args.device}')
    if args.part in ('rank', 'both'):
        nq = args.num_query if args.rank_queries == 0 else min(args.rank_queries,
                                                               args.num_query)
        sides = [harness.Side(f'rank:{s}', RANK_LABELS[s]) for s in RANK_STAGES]
        table = harness.run(args, sides, reference='rank:euclidean', check=check_rank,
                            title=f'MoS ranking, seconds for {nq} queries x {args.num_gallery} '
                            f'gallery, C={args.channels}, top-R {args.top_r}, CP k '
                            f'{args.cp_topk}, device {args.device}')
        scale = args.num_query / nq
        print(f'scaled to {args.num_query} queries (x{scale:.1f}; the cost is linear in the '
              'queries): ' + '; '.join(
                  f'{harness.MODE_LABEL[r["mode"]]} {r["label"]} {r["median"] * scale:.3g} s'
                  for r in table['rows']))


if __name__ == '__main__':
    main()
