"""MoS conflict-penalty study (issue 18, docs/mos.md "CP prior study"): re-score one trained
MoS model's test features with different priors M^p and (eps, lambda), without retraining.

    python tools/train.py configs/mos/synthetic_occluded.py --work-dir work_dirs/cp_study
    python tools/experiments/mos_cp_prior.py configs/mos/synthetic_occluded.py \\
        work_dirs/cp_study/epoch_15.pth [--out cp_study.json]

Priors compared:
* ``running``: the checkpoint's buffer (running max of augmented, training-mode features);
* ``eval``: the running max over every same-identity pair of the training set's eval-mode,
  un-augmented features of the final model (what the test features are compared with);
* ``last_epoch``: one augmented training-mode pass over P x K batches with the final weights
  (the limit of a prior decayed within an epoch, ``decay ** iters_per_epoch -> 0``);
* ``eval_q<p>``: per entry, the p-quantile instead of the max over the eval-mode positive pairs
  (a calibrated, outlier-robust prior), restricted to each pair's top-k union channels.

Prints one line per (prior, eps, lambda): R1 / mAP and the share of re-scored candidates whose
CP is > 0 (the penalty is a veto when that share is large and lambda * CP >> 1).
"""
import argparse
import json
import os.path as osp
from collections import defaultdict

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from asym_plugins.evaluation.rank import evaluate_rank
from asym_plugins.methods.mos.conflict import (
    PositiveCooccurrencePrior,
    _indexed_conflict_penalty,
    _row_topk_indices,
)
from asym_plugins.methods.mos.jaccard import hard_jaccard_similarity
from asym_plugins.registry import DATASETS, MODELS

FORMS = ['spec']


@torch.no_grad()
def features(model, dataset, batch_size=128, train_mode=False, batches=None):
    model.train(train_mode)
    feats, pids, cams = [], [], []
    order = batches or [list(range(s, min(s + batch_size, len(dataset))))
                        for s in range(0, len(dataset), batch_size)]
    for idx in order:
        data = model.data_preprocessor(pseudo_collate([dataset[i] for i in idx]), False)
        g, _, _ = model.extract_feat(data['inputs'])
        feats.append(g.float())
        pids += [int(s.metainfo['pid']) for s in data['data_samples']]
        cams += [int(s.metainfo.get('camid', -1)) for s in data['data_samples']]
    model.eval()
    return torch.cat(feats), torch.tensor(pids), torch.tensor(cams)


def pk_batches(pids, p=8, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    by = defaultdict(list)
    for i, pid in enumerate(pids.tolist()):
        by[pid].append(i)
    ids = list(by)
    perm = torch.randperm(len(ids), generator=g).tolist()
    out = []
    for s in range(0, len(perm) - p + 1, p):
        batch = []
        for j in perm[s:s + p]:
            imgs = by[ids[j]]
            pick = torch.randint(len(imgs), (k,), generator=g).tolist()
            batch += [imgs[t] for t in pick]
        out.append(batch)
    return out


def unit(f):
    """Each row divided by its largest entry (CP then ignores the activation scale)."""
    return f / f.max(dim=1, keepdim=True).values.clamp(min=1e-12)


def max_prior(f, pids):
    prior = PositiveCooccurrencePrior(f.shape[1])
    for pid in pids.unique():
        rows = (pids == pid).nonzero().flatten()
        prior.update(f[rows], pids[rows])
    return prior.M_p.clone()


def quantile_prior(f, pids, q, topk=32):
    """Entry-wise q-quantile over positive pairs of u u^T (top-k union channels only)."""
    c = f.shape[1]
    vals = defaultdict(list)
    t_all, n_all = [], []
    for pid in pids.unique():
        rows = (pids == pid).nonzero().flatten()
        t, n = torch.triu_indices(len(rows), len(rows), 1)
        t_all.append(rows[t])
        n_all.append(rows[n])
    t, n = torch.cat(t_all), torch.cat(n_all)
    u = torch.maximum(f[t], f[n])
    v, i = torch.topk(u, topk, dim=1)
    co = (v[:, :, None] * v[:, None, :]).reshape(len(t), -1)
    flat = (i[:, :, None] * c + i[:, None, :]).reshape(len(t), -1)
    m = torch.zeros(c * c)
    order = torch.argsort(flat.reshape(-1))
    keys, vals = flat.reshape(-1)[order], co.reshape(-1)[order]
    uniq, counts = torch.unique_consecutive(keys, return_counts=True)
    start = 0
    for key, cnt in zip(uniq.tolist(), counts.tolist()):
        seg = vals[start:start + cnt]
        m[key] = torch.quantile(seg, q) if cnt > 1 else seg[0]
        start += cnt
    return m.reshape(c, c)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('config')
    ap.add_argument('checkpoint')
    ap.add_argument('--out', default=None)
    ap.add_argument('--cache', default=None, help='features/priors file (.pt): written on the '
                    'first run, read on the next')
    ap.add_argument('--forms', default='spec,log,keep')
    args = ap.parse_args()
    FORMS[:] = args.forms.split(',')
    cfg = Config.fromfile(args.config)
    if args.cache and osp.isfile(args.cache):
        return study(**torch.load(args.cache), out=args.out)
    with DefaultScope.overwrite_default_scope('asym'):
        model = MODELS.build(cfg.model)
        state = torch.load(args.checkpoint, map_location='cpu', weights_only=False)
        model.load_state_dict(state['state_dict'])
        model.eval()
        test = cfg.test_dataloader.dataset
        q_ds = DATASETS.build(test['query'])
        g_ds = DATASETS.build(test['gallery'])
        train_cfg = dict(cfg.train_dataloader.dataset)
        tr_aug = DATASETS.build(train_cfg)
        tr_plain = DATASETS.build(dict(train_cfg, pipeline=test['query']['pipeline']))
    qf, qp, qc = features(model, q_ds)
    gf, gp, gc = features(model, g_ds)
    tf, tp, _ = features(model, tr_plain)
    priors = dict(running=model.prior.M_p.clone(), eval=max_prior(tf, tp))
    pk = pk_batches(torch.tensor([tr_aug.get_data_info(i)['pid'] for i in range(len(tr_aug))]))
    af, ap_, _ = features(model, tr_aug, train_mode=True, batches=pk)
    last = PositiveCooccurrencePrior(af.shape[1])
    for s in range(0, len(af), 32):
        last.update(af[s:s + 32], ap_[s:s + 32])
    priors['last_epoch'] = last.M_p.clone()
    for q in (0.9, 0.5):
        priors[f'eval_q{q}'] = quantile_prior(tf, tp, q)
    # magnitude-free: every vector divided by its largest entry (u in [0, 1]), prior likewise
    priors['eval_unit'] = max_prior(unit(tf), tp)
    if args.cache:
        torch.save(dict(qf=qf, gf=gf, qp=qp, gp=gp, qc=qc, gc=gc, priors=priors), args.cache)
    study(qf, gf, qp, gp, qc, gc, priors, out=args.out)


def study(qf, gf, qp, gp, qc, gc, priors, out=None):
    for name, m in priors.items():
        print(f'prior {name}: mean {float(m.mean()):.4g}, max {float(m.max()):.4g}, '
              f'nonzero {float((m > 0).float().mean()):.3f}', flush=True)
    print(f'test g: max {float(torch.cat([qf, gf]).max()):.4g}', flush=True)

    sim = hard_jaccard_similarity(qf, gf)
    rows = []

    def score(name, eps, lam, m, top_r=20, topk=32, form='spec'):
        if lam == 0:
            dist = 1 - sim
            nz = float('nan')
        else:
            top_idx = torch.topk(sim, top_r, dim=1).indices
            ia = torch.arange(qf.shape[0]).repeat_interleave(top_r)
            a, b = (unit(qf), unit(gf)) if name.endswith('_unit') else (qf, gf)
            cp = _indexed_conflict_penalty(a, b, ia, top_idx.reshape(-1), m, eps, topk,
                                           _row_topk_indices(a, topk),
                                           _row_topk_indices(b, topk)).reshape(-1, top_r)
            nz = float((cp > 0).float().mean())
            s = sim.clone()
            top = torch.gather(sim, 1, top_idx)
            if form == 'spec':        # S = J - lambda * CP (docs/mos.md eq. (8))
                new = top - lam * cp
            elif form == 'log':       # bounded growth: J - lambda * log(1 + CP)
                new = top - lam * torch.log1p(cp)
            else:                     # 'keep': re-order inside the top-R only
                new = 2.0 + top - lam * torch.log1p(cp)
            s.scatter_(1, top_idx, new)
            dist = 1 - s
        res = evaluate_rank(dist, qp, gp, qc, gc, max_rank=10).to_dict((1,), percent=True)
        row = dict(prior=name, form=form, eps=eps, cp_lambda=lam, R1=res['R1'],
                   mAP=res['mAP'], cp_positive=nz)
        rows.append(row)
        print(f"{form:>4s} {name:>10s} eps={eps:<5g} lambda={lam:<6g} R1 {row['R1']:.2f} mAP "
              f"{row['mAP']:.2f} CP>0 {nz:.3f}", flush=True)

    # Which candidates does CP hit? mean log(1 + CP) (eps = 1) of the true and the false
    # matches among each query's top-20 by J.
    top = torch.topk(sim, 20, dim=1).indices
    ia = torch.arange(qf.shape[0]).repeat_interleave(20)
    true = (gp[top] == qp[:, None]).flatten()
    print(f'top-20 by J: {int(true.sum())} true matches of {true.numel()}', flush=True)
    for name, m in priors.items():
        a, b = (unit(qf), unit(gf)) if name.endswith('_unit') else (qf, gf)
        cp = torch.log1p(_indexed_conflict_penalty(a, b, ia, top.flatten(), m, 1.0, 32))
        print(f'{name:>10s}: mean log(1 + CP) true {float(cp[true].mean()):.2f}, false '
              f'{float(cp[~true].mean()):.2f}', flush=True)
    # 0 or veto: with the running prior (eps 1, lambda 0.1), how many candidates get a penalty,
    # and how many of those lose more than the whole J spread of their query's top-20.
    vals = torch.topk(sim, 20, dim=1).values
    spread = float((vals[:, 0] - vals[:, -1]).mean())
    pen = 0.1 * _indexed_conflict_penalty(qf, gf, ia, top.flatten(), priors['running'], 1.0, 32)
    pos = pen[pen > 0]
    print(f'running prior: lambda*CP > 0 for {pos.numel()}/{pen.numel()} candidates; of those '
          f'{float((pos > spread).float().mean()):.2f} exceed the mean top-20 J spread '
          f'{spread:.3f}', flush=True)
    score('none', 0, 0, None)
    for form in FORMS:
        for name, m in priors.items():
            for eps in (1.0, 0.1, 10.0):
                for lam in (0.1, 0.01, 1.0):
                    score(name, eps, lam, m, form=form)
    if out:
        with open(out, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
