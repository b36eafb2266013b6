"""MoS (docs/mos.md, Method): Jaccard similarities, Jaccard triplet loss, co-occurrence prior,
conflict penalty, test-time re-scoring, and the MoS model (CPU, tiny)."""
import math
import os

import numpy as np
import pytest
import torch
from conftest import torchreid_evaluate_rank

from asym_plugins.methods.mos import (
    JaccardTripletLoss,
    MoSMetric,
    MoSModel,
    PositiveCooccurrencePrior,
    conflict_penalty,
    hard_jaccard_similarity,
    indexed_union_top_channels,
    pairwise_conflict_penalty,
    rescore_topr,
    soft_jaccard_similarity,
)
from asym_plugins.methods.mos import conflict as conflict_module
from asym_plugins.registry import METRICS, MODELS
from asym_plugins.structures import ReIDDataSample


def brute_jaccard(a, b):
    return (torch.minimum(a[:, None], b[None]).sum(-1)
            / torch.maximum(a[:, None], b[None]).sum(-1))


def eq5_literal(g1, g2, tau):
    """Eq. (5) written term by term (two vectors), for small tau (no overflow)."""
    e_min = torch.stack([torch.exp(-tau * g1), torch.exp(-tau * g2)])
    e_max = torch.stack([torch.exp(tau * g1), torch.exp(tau * g2)])
    w_min, w_max = e_min / e_min.sum(0), e_max / e_max.sum(0)
    num = (w_min[0] * g1 + w_min[1] * g2).sum()
    den = (w_max[0] * g1 + w_max[1] * g2).sum()
    return num / den


# ----------------------------------------------------------------- Jaccard
def test_hard_jaccard_hand_values_and_all_pairs():
    g1 = torch.tensor([[2., 0., 1.]])
    g2 = torch.tensor([[1., 1., 1.], [2., 0., 1.], [0., 3., 0.]])
    # min sums 2, 3, 0; max sums 4, 3, 6 -> J = 0.5, 1, 0.
    torch.testing.assert_close(hard_jaccard_similarity(g1, g2), torch.tensor([[0.5, 1.0, 0.0]]))
    a, b = torch.rand(7, 9, dtype=torch.float64), torch.rand(5, 9, dtype=torch.float64)
    torch.testing.assert_close(hard_jaccard_similarity(a, b), brute_jaccard(a, b))
    torch.testing.assert_close(hard_jaccard_similarity(a, b, chunk_size=2), brute_jaccard(a, b))
    assert hard_jaccard_similarity(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0


def test_soft_jaccard_approaches_hard_on_hand_values():
    g1 = torch.tensor([[2., 0., 1.]], dtype=torch.float64)
    g2 = torch.tensor([[1., 1., 1.]], dtype=torch.float64)
    # By hand: J = (1 + 0 + 1) / (2 + 1 + 1) = 0.5. Eq. (5) with d = g1 - g2 = (1, -1, 0):
    # J_s = (3 - tanh(tau / 2)) / (3 + tanh(tau / 2)).
    #   tau = 2 : (3 - 0.761594) / (3 + 0.761594) = 0.595068
    #   tau = 10: (3 - 0.999909) / (3 + 0.999909) = 0.500034
    #   tau = 40: 0.5 (to 1e-12)
    hand = {2.0: 0.5950684074995565, 10.0: 0.5000340491744069, 40.0: 0.5}
    gaps = []
    for tau, value in hand.items():
        js = soft_jaccard_similarity(g1, g2, tau=tau).item()
        assert js == pytest.approx(value, abs=1e-9)
        assert js == pytest.approx(eq5_literal(g1[0], g2[0], tau).item(), abs=1e-12)
        gaps.append(abs(js - 0.5))
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-12
    # Random vectors: eq. (3) literal and the limit.
    a, b = torch.rand(4, 6, dtype=torch.float64), torch.rand(3, 6, dtype=torch.float64)
    js = soft_jaccard_similarity(a, b, tau=3.0)
    literal = torch.stack([torch.stack([eq5_literal(x, y, 3.0) for y in b]) for x in a])
    torch.testing.assert_close(js, literal)
    hard = brute_jaccard(a, b)
    errs = [(soft_jaccard_similarity(a, b, tau=t) - hard).abs().max().item()
            for t in (1.0, 10.0, 100.0, 1000.0)]
    assert errs == sorted(errs, reverse=True) and errs[-1] < 1e-3


def test_soft_jaccard_gradcheck_float64():
    a = (torch.rand(4, 5, dtype=torch.float64) + 0.05).requires_grad_()
    b = (torch.rand(3, 5, dtype=torch.float64) + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x, y: soft_jaccard_similarity(x, y, tau=4.0, chunk_size=2), (a, b))
    # The N x N batch case (b is a): both gradient paths add up.
    assert torch.autograd.gradcheck(
        lambda x: soft_jaccard_similarity(x, x, tau=4.0, chunk_size=3), (a,))


def test_soft_jaccard_chunked_equals_unchunked():
    a = torch.rand(9, 16, dtype=torch.float64, requires_grad=True)
    b = torch.rand(7, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(9, 7, dtype=torch.float64)
    outs, grads = [], []
    for chunk in (None, 1, 4, 100):
        out = soft_jaccard_similarity(a, b, tau=5.0, chunk_size=chunk)
        ga, gb = torch.autograd.grad((out * w).sum(), (a, b))
        outs.append(out.detach())
        grads.append((ga, gb))
    for out, (ga, gb) in zip(outs[1:], grads[1:]):
        torch.testing.assert_close(out, outs[0])
        torch.testing.assert_close(ga, grads[0][0])
        torch.testing.assert_close(gb, grads[0][1])


def test_jaccard_triplet_loss_batch_hard():
    labels = torch.tensor([0, 0, 1, 1])
    g = torch.tensor([[1., 0.], [1., 0.], [0., 1.], [0., 1.]])
    # Perfectly separated sets: D_ap = 0, D_an = 1 -> [delta - 1]_+ = 0 for delta < 1.
    assert JaccardTripletLoss(margin=0.3, tau=50.0)(g, labels).item() == pytest.approx(0.0)
    # Identical features everywhere: D_ap = D_an = 0 -> loss = delta.
    assert JaccardTripletLoss(margin=0.3)(torch.ones(4, 2), labels).item() == \
        pytest.approx(0.3, abs=1e-6)
    feats = torch.rand(8, 6, requires_grad=True)
    loss = JaccardTripletLoss(margin=0.5)(feats, torch.arange(4).repeat_interleave(2))
    loss.backward()
    assert torch.isfinite(feats.grad).all() and feats.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='P x K'):
        JaccardTripletLoss()(torch.rand(3, 4), torch.arange(3))


# ----------------------------------------------------------------- conflict penalty
def test_conflict_penalty_hand_example():
    # Patterns 0 and 1 never co-occurred in a positive pair; each alone reached 1.
    M_p = torch.tensor([[1., 0.], [0., 1.]])
    within = conflict_penalty(torch.tensor([1., 0.]), torch.tensor([0.5, 0.]), M_p, topk=None)
    assert within.item() == 0.0                             # M = [[1, 0], [0, 0]] <= M^p
    conflict = conflict_penalty(torch.tensor([1., 0.]), torch.tensor([0., 1.]), M_p, eps=1.0,
                                topk=None)
    # u = (1, 1), M = [[1, 1], [1, 1]]: excess 1 off the diagonal -> 2 (e - 1) = 3.436564.
    assert conflict.item() == pytest.approx(2 * (math.e - 1), rel=1e-6)
    assert conflict.item() == pytest.approx(3.436564, rel=1e-6)
    eps2 = conflict_penalty(torch.tensor([1., 0.]), torch.tensor([0., 1.]), M_p, eps=2.0,
                            topk=None)
    assert eps2.item() == pytest.approx(2 * (math.exp(2.0) - 1), rel=1e-6)
    # top-k: k = 2 of C = 3 keeps the two largest union channels; the third never counts.
    M_p3 = torch.zeros(3, 3)
    g1, g2 = torch.tensor([1., 0., 0.1]), torch.tensor([0., 1., 0.])
    full = conflict_penalty(g1, g2, M_p3, topk=None).item()
    top2 = conflict_penalty(g1, g2, M_p3, topk=2).item()
    assert top2 == pytest.approx(4 * (math.e - 1), rel=1e-6)   # 2 x 2 block of u_i u_j = 1
    assert full > top2 > 0
    # Batched == one by one, and chunking over pairs changes nothing.
    a, b = torch.rand(6, 5), torch.rand(6, 5)
    Mp = torch.rand(5, 5) * 0.5
    cp = conflict_penalty(a, b, Mp, topk=3)
    one = torch.stack([conflict_penalty(x, y, Mp, topk=3) for x, y in zip(a, b)])
    torch.testing.assert_close(cp, one)
    old = conflict_module._PAIR_CHUNK
    try:
        conflict_module._PAIR_CHUNK = 2
        torch.testing.assert_close(conflict_penalty(a, b, Mp, topk=3), cp)
    finally:
        conflict_module._PAIR_CHUNK = old
    # Per-row top-k candidates (2k per pair) == the direct top-k of the union.
    ia, ib = torch.tensor([0, 1, 5, 5]), torch.tensor([3, 3, 0, 5])
    vals, idx = indexed_union_top_channels(a, b, ia, ib, 3)
    ref_vals, ref_idx = torch.topk(torch.maximum(a[ia], b[ib]), 3, dim=1)
    torch.testing.assert_close(vals, ref_vals)
    assert torch.equal(idx, ref_idx)
    same_vals, _ = indexed_union_top_channels(a, a, ia, ia, 3)       # duplicates counted once
    torch.testing.assert_close(same_vals, torch.topk(a[ia], 3, dim=1).values)
    pw = pairwise_conflict_penalty(a, b[:4], Mp, topk=3)
    assert pw.shape == (6, 4)
    torch.testing.assert_close(pw[2, 3], conflict_penalty(a[2], b[3], Mp, topk=3))
    direct = conflict_penalty(a[:, None].expand(6, 4, 5).reshape(24, 5),
                              b[None, :4].expand(6, 4, 5).reshape(24, 5), Mp, topk=3)
    torch.testing.assert_close(pw.reshape(-1), direct)
    a64 = a.double().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: pairwise_conflict_penalty(x, x, Mp.double() * 0.3, topk=3), (a64,))


def test_prior_changes_only_from_positive_pairs():
    prior = PositiveCooccurrencePrior(4)
    feats = torch.tensor([[1., 0., 0., 0.], [0., 1., 0., 0.],      # id 0
                          [0., 0., 3., 0.], [0., 0., 0., 3.]])     # id 1
    prior.update(feats, torch.tensor([0, 0, 1, 1]))
    expected = torch.zeros(4, 4)
    expected[:2, :2] = 1.0                                         # u = (1, 1, 0, 0)
    expected[2:, 2:] = 9.0                                         # u = (0, 0, 3, 3)
    torch.testing.assert_close(prior.M_p, expected)
    assert int(prior.num_updates) == 1
    # Negatives only (all labels distinct), however large: nothing changes.
    prior.update(torch.full((4, 4), 10.0), torch.arange(4))
    torch.testing.assert_close(prior.M_p, expected)
    assert int(prior.num_updates) == 1
    # A mixed batch: only its positive pair (rows 0, 1) counts; the big negative row does not.
    mixed = torch.tensor([[2., 0., 0., 0.], [0., 0., 0., 0.], [0., 5., 5., 5.]])
    prior.update(mixed, torch.tensor([7, 7, 8]))
    expected[0, 0] = 4.0
    torch.testing.assert_close(prior.M_p, expected)
    # Brute force on a random batch: max over same-label pairs of u u^T.
    p2 = PositiveCooccurrencePrior(5)
    x, y = torch.rand(8, 5), torch.tensor([0, 1, 0, 2, 1, 0, 3, 2])
    p2.update(x, y)
    brute = torch.zeros(5, 5)
    for t in range(8):
        for n in range(t + 1, 8):
            if y[t] == y[n]:
                u = torch.maximum(x[t], x[n])
                brute = torch.maximum(brute, torch.outer(u, u))
    torch.testing.assert_close(p2.M_p, brute)
    # Restricted form: only the top-2 union channels of each positive pair are written.
    p4 = PositiveCooccurrencePrior(5, update_topk=2)
    p4.update(x, y)
    restricted = torch.zeros(5, 5)
    for t in range(8):
        for n in range(t + 1, 8):
            if y[t] == y[n]:
                u = torch.maximum(x[t], x[n])
                top = torch.topk(u, 2).indices
                block = torch.zeros(5, 5)
                block[top[:, None], top[None, :]] = torch.outer(u[top], u[top])
                restricted = torch.maximum(restricted, block)
    torch.testing.assert_close(p4.M_p, restricted)
    assert (p4.M_p <= p2.M_p).all()
    # decay: old prior is scaled before the max.
    p3 = PositiveCooccurrencePrior(1, decay=0.5)
    p3.update(torch.tensor([[2.], [2.]]), torch.tensor([0, 0]))
    p3.update(torch.tensor([[1.], [1.]]), torch.tensor([0, 0]))
    assert p3.M_p.item() == pytest.approx(2.0)                     # max(0.5 * 4, 1)


def test_prior_saved_and_loaded_via_state_dict(tmp_path):
    prior = PositiveCooccurrencePrior(3)
    prior.update(torch.rand(4, 3), torch.tensor([0, 0, 1, 1]))
    assert set(prior.state_dict()) == {'M_p', 'num_updates'}
    path = tmp_path / 'prior.pth'
    torch.save(prior.state_dict(), path)
    fresh = PositiveCooccurrencePrior(3)
    fresh.load_state_dict(torch.load(path))
    torch.testing.assert_close(fresh.M_p, prior.M_p)
    assert int(fresh.num_updates) == 1


def test_rescore_changes_only_top_r():
    torch.manual_seed(3)
    qf, gf = torch.rand(5, 8), torch.rand(12, 8)
    M_p = torch.rand(8, 8) * 0.2
    sim = hard_jaccard_similarity(qf, gf)
    out = rescore_topr(sim, qf, gf, M_p, cp_lambda=0.5, eps=1.0, topk=4, top_r=3,
                       query_chunk=2)
    top = torch.topk(sim, 3, dim=1).indices
    in_top = torch.zeros_like(sim, dtype=torch.bool).scatter_(1, top, True)
    torch.testing.assert_close(out[~in_top], sim[~in_top])
    for q in range(5):
        for g in top[q].tolist():
            expected = sim[q, g] - 0.5 * conflict_penalty(qf[q], gf[g], M_p, eps=1.0, topk=4)
            assert out[q, g].item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    assert (out[in_top] < sim[in_top]).any()
    # A prior that covers everything: nothing moves.
    big = torch.full((8, 8), 100.0)
    torch.testing.assert_close(rescore_topr(sim, qf, gf, big, top_r=3), sim)


# ----------------------------------------------------------------- model
def _tiny_model(**kwargs):
    return MODELS.build(dict(
        type='MoSModel',
        backbone=dict(type='SmallReIDNet', out_channels=32, widths=(8, 16, 16)),
        head=dict(type='BNNeckHead', num_classes=4), **kwargs))


def _batch(n_ids=4, k=2):
    labels = torch.arange(n_ids).repeat_interleave(k)
    samples = [ReIDDataSample(metainfo=dict(pid=int(y), camid=0)).set_gt_label(int(y))
               for y in labels]
    return torch.rand(len(samples), 3, 64, 32) * 255, samples


def test_mos_model_loss_and_predict():
    model = _tiny_model()
    assert isinstance(model, MoSModel) and model.neck.pooling == 'max'
    inputs, samples = _batch()
    model.train()
    losses = model(inputs, samples, mode='loss')
    assert {'loss_id', 'loss_jaccard', 'acc_id'} <= set(losses)
    total = losses['loss_id'] + losses['loss_jaccard']
    assert torch.isfinite(total)
    total.backward()
    assert int(model.prior.num_updates) == 1 and model.prior.M_p.max() > 0
    assert 'prior.M_p' in model.state_dict()
    model.eval()
    with torch.no_grad():
        preds = model(inputs, [ReIDDataSample() for _ in range(8)], mode='predict')
    feats = torch.stack([p.pred_feature for p in preds])
    assert feats.shape == (8, 32) and (feats >= 0).all()
    assert preds[0].mos_prior.tensor is model.prior.M_p           # a reference, not a copy
    assert preds[0].cpu().mos_prior.tensor is model.prior.M_p
    # The optional CP training term runs and changes the Jaccard loss.
    model_cp = _tiny_model(train_cp=dict(weight=1.0, eps=1.0, topk=8))
    model_cp.train()
    out = model_cp(inputs, samples, mode='loss')
    assert torch.isfinite(out['loss_jaccard'])
    with pytest.raises(ValueError, match="input='feature'"):
        _tiny_model(losses=dict(jaccard=dict(type='JaccardTripletLoss', input='bn_feature')))


def test_mos_metric_ranks_by_jaccard_and_takes_prior_from_predict():
    model = _tiny_model()
    inputs, samples = _batch()
    model.train()
    model(inputs, samples, mode='loss')                           # one prior update
    model.eval()
    test_samples = [ReIDDataSample(metainfo=dict(pid=i % 4, camid=i // 4,
                                                 split='query' if i < 4 else 'gallery'))
                    for i in range(8)]
    with torch.no_grad():
        preds = model(inputs, test_samples, mode='predict')
    feats = torch.stack([p.pred_feature for p in preds])
    qf, gf = feats[:4], feats[4:]
    plain = METRICS.build(dict(type='MoSMetric'))
    torch.testing.assert_close(plain.compute_distmat(qf, gf), 1 - hard_jaccard_similarity(qf, gf))
    metric = METRICS.build(dict(type='MoSMetric', cp_lambda=0.5, cp_topk=8, top_r=2))
    metric.process({}, [p.to_dict() for p in preds])
    assert metric.prior is model.prior.M_p
    assert all('mos_prior' not in r for r in metric.results)     # nothing C x C is gathered
    res = metric.compute_metrics(metric.results)
    expected = 1 - rescore_topr(hard_jaccard_similarity(qf, gf), qf, gf, model.prior.M_p,
                                cp_lambda=0.5, topk=8, top_r=2)
    torch.testing.assert_close(metric.compute_distmat(qf, gf), expected)
    # R1 / mAP: torchreid's own evaluator on those distances (query cam 0, gallery cam 1)
    cmc, mAP = torchreid_evaluate_rank(expected, np.arange(4), np.arange(4), np.zeros(4),
                                       np.ones(4), max_rank=4)
    assert res['R1'] == pytest.approx(100 * cmc[0], abs=1e-4)
    assert res['mAP'] == pytest.approx(100 * mAP, abs=1e-4)
    with pytest.raises(ValueError, match='non-negative'):
        plain.compute_distmat(-qf - 1, gf)
    with pytest.raises(ValueError, match='prior'):
        METRICS.build(dict(type='MoSMetric', cp_lambda=0.1)).compute_distmat(qf, gf)


def test_mos_configs_parse_and_build():
    import glob

    from mmengine.config import Config
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = sorted(glob.glob(os.path.join(root, 'configs', 'mos', '**', '*.py'), recursive=True))
    names = {os.path.relpath(f, os.path.join(root, 'configs', 'mos')) for f in files}
    assert {'market1501.py', 'dukemtmcreid.py', 'occluded_duke.py', 'partial_reid.py',
            'partial_ilids.py', 'p_dukemtmc.py', 'synthetic_partial.py',
            'synthetic_occluded.py'} <= names
    for f in files:
        if '_base_' in f:
            continue
        cfg = Config.fromfile(f)
        assert cfg.model.type in ('MoSModel', 'ReIDBaseline'), f
        if os.path.basename(f).startswith('synthetic'):
            assert isinstance(MODELS.build(cfg.model), MoSModel)
            assert isinstance(METRICS.build(cfg.val_evaluator), MoSMetric)
    cfg = Config.fromfile(os.path.join(root, 'configs', 'mos', 'partial_reid.py'))
    assert cfg.train_dataloader.dataset.type == 'Market1501'
    assert cfg.test_dataloader.dataset.query.type == 'PartialREID'
    assert cfg.test_dataloader.dataset.query.data_root == 'data/partial_reid'
    wibn = Config.fromfile(os.path.join(root, 'configs', 'mos', 'occluded_duke_wibn.py'))
    assert wibn.model.backbone.type == 'ResNetIBN'
