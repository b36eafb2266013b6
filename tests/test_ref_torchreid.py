"""torchreid's own functions (never our replacements) as references: the CUHK03 single-gallery-
shot metric against torchreid's ``eval_cuhk03`` on random distances, and the identity samplers'
coverage over many epochs against torchreid's ``RandomIdentitySampler``."""
import random
import warnings

import numpy as np
import pytest
from conftest import require

from asym_plugins.data.samplers import CrossModalityIdentitySampler, IdentitySampler
from asym_plugins.integrations.torchreid.evaluation import eval_cuhk03

require('torchreid')
with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # "Cython evaluation is unavailable"
    from torchreid.reid.data.sampler import RandomIdentitySampler  # noqa: E402
    from torchreid.reid.metrics import rank as tr_rank  # noqa: E402


@pytest.fixture
def tr_eval_cuhk03(monkeypatch):
    """torchreid's function object from its own module (``register_all`` only rebinds
    ``torchreid.reid.metrics.evaluate_rank``), with the ``np.bool`` alias it uses where a numpy
    release lacks it."""
    fn = tr_rank.eval_cuhk03
    assert fn.__module__ == 'torchreid.reid.metrics.rank' and 'asym' not in fn.__code__.co_filename
    if not hasattr(np, 'bool'):
        monkeypatch.setattr(np, 'bool', bool, raising=False)
    return fn


def _cuhk03_world(seed, per_id):
    rng = np.random.default_rng(seed)
    n_ids = 10
    g_pids = np.repeat(np.arange(n_ids), per_id)
    g_cams = rng.integers(0, 3, len(g_pids))
    q_pids = rng.integers(0, n_ids, 20)
    q_cams = rng.integers(0, 3, 20)
    return rng.random((20, len(g_pids))), q_pids, g_pids, q_cams, g_cams


def test_cuhk03_equals_torchreid_when_sampling_has_no_choice(tr_eval_cuhk03):
    """One gallery image per identity: the per-identity draw is forced, so CMC and mAP must be
    exactly torchreid's (queries whose only positive shares their camera are skipped by both)."""
    d, qp, gp, qc, gc = _cuhk03_world(0, per_id=1)
    ref_cmc, ref_map = tr_eval_cuhk03(d, qp, gp, qc, gc, 5)
    cmc, mAP = eval_cuhk03(d, qp, gp, qc, gc, max_rank=5)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-6)
    assert mAP == pytest.approx(ref_map, abs=1e-9)


@pytest.mark.parametrize('seed', [0, 1])
def test_cuhk03_equals_torchreid_on_random_distances(seed, tr_eval_cuhk03, monkeypatch):
    """Three gallery images per identity: mAP (the full list) is deterministic and equal; the
    CMC is an average over random single-shot draws, so both are averaged over many draws
    (torchreid: 100 calls x its 10 repeats, seeded; ours: 1000 repeats) and agree within 0.03
    (about 5 standard errors), while drawing each identity's best-ranked image instead is far
    off."""
    d, qp, gp, qc, gc = _cuhk03_world(seed, per_id=3)
    runs = []
    for s in range(100):
        np.random.seed(s)
        runs.append(tr_eval_cuhk03(d, qp, gp, qc, gc, 5))
    ref_cmc = np.mean([c for c, _ in runs], axis=0)
    cmc, mAP = eval_cuhk03(d, qp, gp, qc, gc, max_rank=5, num_repeats=1000, seed=seed)
    assert mAP == pytest.approx(runs[0][1], abs=1e-9)
    np.testing.assert_allclose(cmc, ref_cmc, atol=0.03)
    # a wrong sampler (always the first, i.e. best-ranked, image of an identity) is caught
    monkeypatch.setattr(np.random, 'choice', lambda idxs: idxs[0])
    best_cmc, _ = tr_eval_cuhk03(d, qp, gp, qc, gc, 5)
    assert np.abs(best_cmc - ref_cmc).max() > 0.06


# --------------------------------------------------------------------------------- samplers
# identities with 1..3 images (fewer than K = 4), exactly K, and several groups
COUNTS = [1, 2, 3, 4, 5, 7, 8, 9, 12, 4, 6, 2]
K, P, EPOCHS = 4, 3, 1500


def _shares(draws, pid_of):
    per_pid = np.bincount(pid_of, weights=draws)
    return per_pid / per_pid.sum()


def _torchreid_draws(counts_per_pid, batch_size, num_instances, epochs):
    data = [(f'{p}_{i}.jpg', p, 0) for p, n in enumerate(counts_per_pid) for i in range(n)]
    random.seed(0)
    np.random.seed(0)
    sampler = RandomIdentitySampler(data, batch_size, num_instances)
    draws = np.zeros(len(data))
    for _ in range(epochs):
        draws += np.bincount(list(iter(sampler)), minlength=len(data))
    return draws, np.array([p for _, p, _ in data])


class _Items:
    def __init__(self, infos):
        self.infos = infos

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, i):
        return dict(self.infos[i])


def test_identity_sampler_covers_identities_and_images_like_torchreid():
    """Over many epochs every identity gets the same share of the draws as with torchreid's
    sampler (an identity with n images: max(n, K) // K groups of K per epoch; fewer than K
    images: drawn with replacement), and the images of an identity are drawn equally often.
    [Ours: each epoch has exactly len(sampler) indices; torchreid stops when fewer than P
    identities have groups left, so it yields slightly fewer than its __len__.]"""
    ref, pid_of = _torchreid_draws(COUNTS, P * K, K, EPOCHS)
    infos = [dict(label=p) for p, n in enumerate(COUNTS) for _ in range(n)]
    ours = IdentitySampler(_Items(infos), batch_size=P * K, num_instances=K, seed=0)
    draws = np.zeros(len(infos))
    for e in range(EPOCHS):
        ours.set_epoch(e)
        idx = list(iter(ours))
        assert len(idx) == len(ours)
        draws += np.bincount(idx, minlength=len(infos))
    assert draws.min() > 0
    # rtol: ours pads every epoch to len(sampler) with one fresh group per identity where
    # torchreid drops the leftover groups: the heavy identity 8 (3 groups) gets 0.148 of the
    # draws vs torchreid's 0.150 over 3000 epochs; an identity with fewer than K images drawn
    # fewer than K times, or one group per identity, would be off by 50-75 %
    np.testing.assert_allclose(_shares(draws, pid_of), _shares(ref, pid_of), rtol=0.1)
    per_epoch = ref.sum() / EPOCHS
    assert per_epoch <= len(RandomIdentitySampler([(0, p, 0) for p in pid_of], P * K, K))
    for p in range(len(COUNTS)):
        mine = draws[pid_of == p]
        assert mine.max() / mine.min() < 1.15, (p, mine)  # uniform within the identity
    # a singleton identity: its one image is drawn K times per group, as torchreid's
    assert draws[pid_of == 0][0] == pytest.approx(ref[pid_of == 0][0] * draws.sum() / ref.sum(),
                                                  rel=0.1)


def test_cross_modality_sampler_covers_identities_like_torchreid():
    """Each identity gives max(n_visible, n_infrared, K) // K groups per epoch, the group count
    torchreid's sampler gives an identity with max(n_visible, n_infrared) images: the identity
    shares must match torchreid's on that data; every group holds K images of each modality,
    so per identity the two modalities are drawn equally often, and within a modality every
    image equally often."""
    vis = [1, 2, 3, 4, 5, 7, 8, 9, 12, 4, 6, 2]
    ir = [3, 1, 6, 4, 2, 9, 5, 9, 3, 13, 6, 1]
    ref, ref_pid = _torchreid_draws([max(a, b) for a, b in zip(vis, ir)], P * K, K, EPOCHS)
    infos = []
    for p, (a, b) in enumerate(zip(vis, ir)):
        infos += [dict(label=p, modality='visible')] * a + [dict(label=p, modality='infrared')] * b
    pid_of = np.array([i['label'] for i in infos])
    is_ir = np.array([i['modality'] == 'infrared' for i in infos])
    ours = CrossModalityIdentitySampler(_Items(infos), batch_size=2 * P * K, num_instances=K,
                                        seed=0)
    draws = np.zeros(len(infos))
    for e in range(EPOCHS):
        ours.set_epoch(e)
        idx = list(iter(ours))
        assert len(idx) == len(ours)
        draws += np.bincount(idx, minlength=len(infos))
    np.testing.assert_allclose(_shares(draws, pid_of), _shares(ref, ref_pid), rtol=0.1)
    for p in range(len(vis)):
        v, r = draws[(pid_of == p) & ~is_ir], draws[(pid_of == p) & is_ir]
        assert v.sum() == r.sum()
        for mod in (v, r):
            assert mod.min() > 0 and mod.max() / mod.min() < 1.2, (p, mod)
