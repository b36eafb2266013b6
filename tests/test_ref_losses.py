"""Losses against references that are not our implementation: a plain-loop brute force of the
MoS Jaccard triplet loss on random batches (hardest positive / negative really chosen), and
values worked out by hand for SAP's proxy loss and each MCMA loss term (docs/mos.md,
docs/sap.md, docs/mcma.md)."""
import math

import pytest
import torch

from asym_plugins.methods.mcma.losses import identity_loss, infonce_loss, masked_patch_mse, sdm_loss
from asym_plugins.methods.mos import JaccardTripletLoss
from asym_plugins.methods.sap import ProxyConsistencyDistillLoss


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# ------------------------------------------------------------------ MoS Jaccard triplet loss
def loop_soft_jaccard(g1, g2, tau):
    """Eq. (5) of docs/mos.md channel by channel: per channel c the min-weights
    ``w_k = exp(-tau g_k) / (exp(-tau g_1) + exp(-tau g_2))`` and max-weights (``+tau``);
    ``J_s = sum_c (w1min g1 + w2min g2) / sum_c (w1max g1 + w2max g2)``."""
    num = den = 0.0
    for c in range(g1.shape[0]):
        a, b = g1[c], g2[c]
        ea, eb = torch.exp(-tau * a), torch.exp(-tau * b)
        fa, fb = torch.exp(tau * a), torch.exp(tau * b)
        num = num + (ea * a + eb * b) / (ea + eb)
        den = den + (fa * a + fb * b) / (fa + fb)
    return num / den


def loop_jaccard_triplet(feats, labels, margin, tau, extra=None, hardest=True):
    """Batch-hard triplet on ``D = 1 - J_s (+ extra)``, anchor by anchor; ``hardest=False``
    picks the easiest positive and negative instead (to show the test tells them apart)."""
    n = feats.shape[0]
    dist = [[1.0 - loop_soft_jaccard(feats[i], feats[j], tau) + (0 if extra is None
             else extra[i, j]) for j in range(n)] for i in range(n)]
    terms = []
    for i in range(n):
        pos = [j for j in range(n) if j != i and labels[j] == labels[i]]
        neg = [j for j in range(n) if labels[j] != labels[i]]
        if not pos or not neg:
            continue  # no triplet for this anchor
        pick_p, pick_n = (max, min) if hardest else (min, max)
        p = pick_p(pos, key=lambda j: float(dist[i][j].detach()))
        q = pick_n(neg, key=lambda j: float(dist[i][j].detach()))
        terms.append(torch.clamp(margin + dist[i][p] - dist[i][q], min=0.0))
    return sum(terms) / len(terms)


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('with_extra', [False, True])
def test_jaccard_triplet_loss_equals_brute_force_on_random_batches(seed, with_extra):
    gen = torch.Generator().manual_seed(seed)
    # 4 identities with 3, 2, 3 images and one singleton (an anchor without a positive)
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 3]
    feats = torch.rand(len(labels), 5, generator=gen, dtype=torch.float64)
    extra = 0.2 * torch.rand(len(labels), len(labels), generator=gen, dtype=torch.float64) \
        if with_extra else None
    margin, tau = 0.3, 4.0
    mine = feats.clone().requires_grad_(True)
    ours = JaccardTripletLoss(margin=margin, tau=tau, chunk_size=2)(
        mine.float(), torch.tensor(labels), None if extra is None else extra.float())
    ref_in = feats.clone().requires_grad_(True)
    ref = loop_jaccard_triplet(ref_in, labels, margin, tau, extra)
    assert float(ref) > 0.02  # some triplets are active
    assert ours.item() == pytest.approx(float(ref), abs=1e-5)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(mine.grad, ref_in.grad, atol=1e-5, rtol=1e-4)
    # the distances within positives (and negatives) differ: another choice gives another loss
    easiest = loop_jaccard_triplet(feats, labels, margin, tau, extra, hardest=False)
    assert abs(float(easiest) - ours.item()) > 1e-3


# ------------------------------------------------------------------------ SAP proxy loss
def test_sap_proxy_loss_hand_values():
    """One part, patch logits ``[0, ln 3]`` -> student ``S = (1/4, 3/4)``; teacher part column
    ``(0.8, 0.4)`` -> target ``softmax = (sigmoid(0.4), sigmoid(-0.4))``; the loss is the
    cross-entropy ``-sum T log S``."""
    s = sigmoid(0.4)
    hand = s * math.log(4) + (1 - s) * math.log(4 / 3)
    m_hat = torch.tensor([[[0.2, 0.8], [0.6, 0.4]]])  # (N=1, L=2, background + 1 part)
    logits = torch.tensor([[[0.0, math.log(3)]]])     # (N=1, K=1, L=2)
    assert ProxyConsistencyDistillLoss()(logits, m_hat).item() == pytest.approx(hand, abs=1e-6)
    # alpha and the target temperature: alpha * CE(softmax((0.8, 0.4) / 0.5), S)
    s2 = sigmoid(0.8)
    hand2 = 2.0 * (s2 * math.log(4) + (1 - s2) * math.log(4 / 3))
    assert ProxyConsistencyDistillLoss(loss_weight=2.0, temperature=0.5)(
        logits, m_hat).item() == pytest.approx(hand2, abs=1e-6)
    # an SSD-dropped middle patch leaves both distributions: the same value as without it
    m3 = torch.tensor([[[0.2, 0.8], [0.0, 5.0], [0.6, 0.4]]])
    l3 = torch.tensor([[[0.0, 7.0, math.log(3)]]])
    keep = torch.tensor([[True, False, True]])
    assert ProxyConsistencyDistillLoss()(l3, m3, keep).item() == pytest.approx(hand, abs=1e-6)
    # two heads (1/4, 3/4) and (3/4, 1/4): their mean attention is uniform -> ln 2 for any
    # target; per head: the mean of the two cross-entropies = ln 4 - ln(3) / 2
    heads = torch.tensor([[[[0.0, math.log(3)]], [[math.log(3), 0.0]]]])  # (1, h=2, 1, 2)
    assert ProxyConsistencyDistillLoss()(heads, m_hat).item() == \
        pytest.approx(math.log(2), abs=1e-6)
    assert ProxyConsistencyDistillLoss(head_reduce='per_head')(heads, m_hat).item() == \
        pytest.approx(math.log(4) - math.log(3) / 2, abs=1e-6)
    # two parts (the background column 0 is not a part): rows averaged
    m2 = torch.tensor([[[0.1, 0.8, 0.0], [0.1, 0.4, 1.0]]])
    l2 = torch.tensor([[[0.0, math.log(3)], [0.0, 0.0]]])  # part 2: uniform -> ln 2
    assert ProxyConsistencyDistillLoss()(l2, m2).item() == \
        pytest.approx((hand + math.log(2)) / 2, abs=1e-6)


# --------------------------------------------------------------------------- MCMA terms
E2 = torch.eye(2)


def test_mcma_sdm_hand_values():
    """Images = texts = the unit vectors, T = 1: ``S = I`` so each row's predicted
    distribution is ``(s, 1 - s)``, ``s = sigmoid(1)``. Same identity: ``q = (1/2, 1/2)``,
    ``KL = s ln 2s + (1 - s) ln 2(1 - s)``; different identities: ``q = (1, 0)`` with IRRA's
    ``log(q + 1e-8)``. Four rows (two per direction), two means."""
    s = sigmoid(1.0)
    same = 2 * (s * math.log(2 * s) + (1 - s) * math.log(2 * (1 - s)))
    assert sdm_loss(E2, E2, torch.tensor([0, 0]), temperature=1.0).item() == \
        pytest.approx(same, abs=1e-6)
    diff = 2 * (s * (math.log(s) - math.log(1 + 1e-8)) + (1 - s) * (math.log(1 - s)
                                                                    - math.log(1e-8)))
    assert sdm_loss(E2, E2, torch.tensor([0, 1]), temperature=1.0).item() == \
        pytest.approx(diff, rel=1e-6)
    # temperature 0.5 doubles the logits: s = sigmoid(2); features are L2-normalised first
    s = sigmoid(2.0)
    same = 2 * (s * math.log(2 * s) + (1 - s) * math.log(2 * (1 - s)))
    assert sdm_loss(3 * E2, E2, torch.tensor([0, 0]), temperature=0.5).item() == \
        pytest.approx(same, abs=1e-6)


def test_mcma_infonce_identity_and_reconstruction_hand_values():
    # InfoNCE: S = I / T; each row's CE is -ln sigmoid(1 / T) = ln(1 + e^(-1/T))
    assert infonce_loss(E2, E2, temperature=1.0).item() == \
        pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)
    assert infonce_loss(E2, 5 * E2, temperature=0.5).item() == \
        pytest.approx(math.log(1 + math.exp(-2)), abs=1e-6)
    # ID: image logits (2, 0), text logits (0, 0), label 0 -> (ln(1 + e^-2) + ln 2) / 2
    img, txt, y = torch.tensor([[2.0, 0.0]]), torch.zeros(1, 2), torch.tensor([0])
    a, b = math.log(1 + math.exp(-2)), math.log(1 + math.exp(2))
    assert identity_loss(img, txt, y).item() == pytest.approx((a + math.log(2)) / 2, abs=1e-6)
    # label smoothing 0.1 over 2 classes: 0.9 * CE(target) + 0.1 * mean_c CE(c)
    assert identity_loss(img, txt, y, label_smoothing=0.1).item() == pytest.approx(
        (0.9 * a + 0.1 * (a + b) / 2 + math.log(2)) / 2, abs=1e-6)
    # masked MSE: per-patch means 2.5, 17 (sample 0) and 4, 8 (sample 1); masked: 17, 4, 8
    pred = torch.tensor([[[1.0, 2.0], [3.0, 5.0]], [[2.0, 2.0], [0.0, 4.0]]])
    mask = torch.tensor([[False, True], [True, True]])
    assert masked_patch_mse(pred, torch.zeros_like(pred), mask).item() == \
        pytest.approx(29 / 3, abs=1e-6)
    # sample 1 without a partner: only 17 counts
    assert masked_patch_mse(pred, torch.zeros_like(pred), mask,
                            valid=torch.tensor([True, False])).item() == pytest.approx(17.0)
    # against a target: masked patch (3, 5) vs (3, 3) -> mean of 0 and 4 = 2
    target = torch.tensor([[[9.0, 9.0], [3.0, 3.0]]])
    assert masked_patch_mse(pred[:1], target, mask[:1]).item() == pytest.approx(2.0)
