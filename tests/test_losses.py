"""Losses against independent references (hand formulas and brute-force loops)."""
import math

import pytest
import torch

from asym_plugins.models.losses import (
    CrossEntropyLabelSmooth,
    TripletLoss,
    WeightedRegularizedTriplet,
)
from asym_plugins.registry import MODELS


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny CPU workloads: with 2 threads on a busy shared machine, OpenMP barriers make each op
    wait for a descheduled thread (measured 20x slower); one thread is faster and steadier."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _pk_batch(p=4, k=3, dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(p * k, dim, generator=g, dtype=torch.float64)
    labels = torch.arange(p).repeat_interleave(k)
    perm = torch.randperm(p * k, generator=g)
    return feats[perm], labels[perm]


def _dist(a, b):
    return math.sqrt(sum((float(x) - float(y)) ** 2 for x, y in zip(a, b)))


# ------------------------------------------------------------------ label-smoothing CE
def test_label_smooth_ce_matches_hand_formula():
    logits = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]])
    labels = torch.tensor([0, 2])
    eps, k = 0.1, 3
    expected = 0.0
    for row, y in zip(logits.tolist(), labels.tolist()):
        z = sum(math.exp(v) for v in row)
        log_p = [v - math.log(z) for v in row]
        q = [(1 - eps) * (i == y) + eps / k for i in range(k)]
        expected += -sum(qi * lp for qi, lp in zip(q, log_p))
    expected /= 2
    loss = CrossEntropyLabelSmooth(num_classes=3, epsilon=eps)(logits, labels)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_label_smooth_ce_epsilon_zero_is_cross_entropy_and_weight():
    logits = torch.randn(5, 4)
    labels = torch.tensor([0, 1, 2, 3, 1])
    ref = torch.nn.functional.cross_entropy(logits, labels)
    assert CrossEntropyLabelSmooth(epsilon=0.0)(logits, labels).item() == pytest.approx(ref.item(),
                                                                                      rel=1e-6)
    assert CrossEntropyLabelSmooth(epsilon=0.0, loss_weight=2.0)(logits, labels).item() == \
        pytest.approx(2 * ref.item(), rel=1e-6)


def test_label_smooth_ce_bad_label():
    with pytest.raises(ValueError, match=r'\[0, 3\)'):
        CrossEntropyLabelSmooth()(torch.randn(2, 3), torch.tensor([0, 3]))


# ------------------------------------------------------------------ batch-hard triplet
def _brute_force_batch_hard(feats, labels, margin):
    terms = []
    n = len(labels)
    for a in range(n):
        pos = [_dist(feats[a], feats[p]) for p in range(n) if p != a and labels[p] == labels[a]]
        neg = [_dist(feats[a], feats[q]) for q in range(n) if labels[q] != labels[a]]
        if not pos or not neg:
            continue
        diff = max(pos) - min(neg)
        terms.append(math.log1p(math.exp(diff)) if margin is None else max(0.0, diff + margin))
    return sum(terms) / len(terms)


@pytest.mark.parametrize('margin', [0.3, 1.0, None])
def test_batch_hard_triplet_matches_brute_force(margin):
    feats, labels = _pk_batch()
    loss = TripletLoss(margin=margin)(feats, labels)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(_brute_force_batch_hard(feats, labels.tolist(), margin),
                                        rel=1e-6, abs=1e-9)


def test_batch_hard_triplet_skips_singletons_and_backprops():
    feats, labels = _pk_batch(p=3, k=2, seed=1)
    labels = torch.cat([labels, torch.tensor([7])])  # identity 7 has no positive
    feats = torch.cat([feats, torch.randn(1, feats.shape[1], dtype=feats.dtype)])
    feats.requires_grad_(True)
    loss = TripletLoss(margin=0.3)(feats, labels)
    assert loss.item() == pytest.approx(
        _brute_force_batch_hard(feats.detach(), labels.tolist(), 0.3), rel=1e-6, abs=1e-9)
    loss.backward()
    assert torch.isfinite(feats.grad).all()


def test_triplet_gradient_finite_on_duplicate_features():
    feats = torch.ones(4, 3, requires_grad=True)  # all distances zero: sqrt must stay safe
    TripletLoss(margin=0.3)(feats, torch.tensor([0, 0, 1, 1])).backward()
    assert torch.isfinite(feats.grad).all()


@pytest.mark.parametrize('labels', [[0, 1, 2, 3], [5, 5, 5, 5]])
@pytest.mark.parametrize('cls', [TripletLoss, WeightedRegularizedTriplet])
def test_batch_without_pairs_raises_with_sampler_hint(cls, labels):
    with pytest.raises(ValueError, match='P x K identity sampler'):
        cls()(torch.randn(4, 5), torch.tensor(labels))


# ------------------------------------------------------------------ weighted regularised triplet
def _per_anchor_wrt(feats, labels):
    n = len(labels)
    terms = []
    for a in range(n):
        pos = [_dist(feats[a], feats[p]) for p in range(n) if p != a and labels[p] == labels[a]]
        neg = [_dist(feats[a], feats[q]) for q in range(n) if labels[q] != labels[a]]
        if not pos or not neg:
            continue
        zp = sum(math.exp(d) for d in pos)
        d_ap = sum(d * math.exp(d) / zp for d in pos)
        zn = sum(math.exp(-d) for d in neg)
        d_an = sum(d * math.exp(-d) / zn for d in neg)
        terms.append(math.log1p(math.exp(d_ap - d_an)))
    return sum(terms) / len(terms)


@pytest.mark.parametrize('seed', [0, 3])
def test_weighted_regularized_triplet_matches_loop(seed):
    feats, labels = _pk_batch(p=3, k=4, seed=seed)
    feats.requires_grad_(True)
    loss = WeightedRegularizedTriplet()(feats, labels)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(_per_anchor_wrt(feats.detach(), labels.tolist()),
                                        rel=1e-6)
    loss.backward()
    assert torch.isfinite(feats.grad).all()


def test_losses_are_registered():
    assert isinstance(MODELS.build(dict(type='TripletLoss', margin=None)), TripletLoss)
    assert isinstance(MODELS.build(dict(type='WeightedRegularizedTriplet')),
                      WeightedRegularizedTriplet)
    assert MODELS.build(dict(type='CrossEntropyLabelSmooth', epsilon=0.2)).epsilon == 0.2
