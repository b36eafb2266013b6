"""SYSU-MM01, RegDB and text->image protocols vs hand examples and brute-force loops."""
import numpy as np
import pytest
import torch

from asym_plugins.evaluation import (
    RegDBMetric,
    SYSUMetric,
    TextImageMetric,
    evaluate_regdb,
    evaluate_sysu,
    evaluate_sysu_trial,
    evaluate_text_to_image,
    load_sysu_permutation,
    sample_sysu_gallery,
)


# ----------------------------------------------------------------------------- references
def reference_sysu_trial(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    """Loop version of the SYSU rule (0-based camids: cam3 = 2, cam2 = 1)."""
    cmcs, aps, inps = [], [], []
    for i in range(distmat.shape[0]):
        order = np.argsort(distmat[i], kind='stable')
        kept = [j for j in order if not (q_camids[i] == 2 and g_camids[j] == 1)]
        hits = [g_pids[j] == q_pids[i] for j in kept]
        positions = [r for r, h in enumerate(hits) if h]
        if not positions:
            continue
        seen, unique_pids = set(), []
        for j in kept:
            if g_pids[j] not in seen:
                seen.add(g_pids[j])
                unique_pids.append(g_pids[j])
        first = unique_pids.index(q_pids[i])
        cmcs.append([1.0 if r >= first else 0.0 for r in range(max_rank)])
        aps.append(sum((k + 1) / (p + 1) for k, p in enumerate(positions)) / len(positions))
        inps.append(len(positions) / (positions[-1] + 1))
    return np.mean(cmcs, axis=0), np.mean(aps), np.mean(inps)


def reference_plain(distmat, q_pids, g_pids, max_rank):
    """No exclusion, no de-duplication (RegDB, text->image)."""
    cmcs, aps, inps = [], [], []
    for i in range(distmat.shape[0]):
        order = np.argsort(distmat[i], kind='stable')
        positions = [r for r, j in enumerate(order) if g_pids[j] == q_pids[i]]
        if not positions:
            continue
        cmcs.append([1.0 if r >= positions[0] else 0.0 for r in range(max_rank)])
        aps.append(sum((k + 1) / (p + 1) for k, p in enumerate(positions)) / len(positions))
        inps.append(len(positions) / (positions[-1] + 1))
    return np.mean(cmcs, axis=0), np.mean(aps), np.mean(inps)


def euclid(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def sysu_world(rng, n_ids=6, per_cam=4, dim=8):
    """Every id in every camera (0-based camids 0..5), ``per_cam`` images each."""
    centres = rng.normal(size=(n_ids, dim))
    pids, cams = np.meshgrid(np.arange(n_ids) + 1, np.arange(6), indexing='ij')
    pids = np.repeat(pids.reshape(-1), per_cam)
    cams = np.repeat(cams.reshape(-1), per_cam)
    feats = centres[pids - 1] + 0.9 * rng.normal(size=(len(pids), dim))
    return feats.astype(np.float32), pids, cams


# ----------------------------------------------------------------------------- SYSU
def test_sysu_hand_example_exclusion_and_identity_dedup():
    # one cam-3 query (camid 2) and one cam-6 query (camid 5), both pid 1, same distances
    q_pids, q_camids = np.array([1, 1]), np.array([2, 5])
    g_pids = np.array([1, 2, 3, 3, 1])
    g_camids = np.array([1, 1, 0, 3, 4])  # two cam-2 images (camid 1): pid 1 and pid 2
    row = np.array([0.1, 0.2, 0.3, 0.35, 0.4])
    res = evaluate_sysu_trial(np.stack([row, row]), q_pids, g_pids, q_camids, g_camids,
                              max_rank=5)
    pq = evaluate_sysu_trial(row[None], q_pids[:1], g_pids, q_camids[:1], g_camids,
                             max_rank=5)
    # cam-3 query: both cam-2 images go (the pid-1 hit at rank 1 AND the pid-2 one);
    # left: pid 3, pid 3, pid 1 -> identity-level list pid 3, pid 1: first hit at rank 2
    assert pq.cmc.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    # without the identity de-duplication the first hit would be at rank 3
    assert pq.per_query is None and pq.num_valid == 1
    assert pq.mAP == pytest.approx(1 / 3) and pq.mINP == pytest.approx(1 / 3)
    # cam-6 query: nothing excluded, the pid-1 image is ranked first
    assert res.cmc[0] == pytest.approx(0.5)
    assert res.mAP == pytest.approx((1 / 3 + (1 + 2 / 5) / 2) / 2)


def test_sysu_sampling_properties():
    rng = np.random.default_rng(0)
    _, pids, cams = sysu_world(rng, n_ids=5, per_cam=12)
    pids, cams = pids[:-3], cams[:-3]  # last (pid, cam) has only 9 images
    for shots in (1, 10):
        idx = sample_sysu_gallery(pids, cams, shots, np.random.default_rng((0, 0)))
        assert np.all(np.diff(idx) > 0)
        _, counts = np.unique(np.stack([pids[idx], cams[idx]]), axis=1, return_counts=True)
        assert counts.max() == shots and len(counts) == 30
        if shots == 10:
            assert counts.min() == 9
        again = sample_sysu_gallery(pids, cams, shots, np.random.default_rng((0, 0)))
        other = sample_sysu_gallery(pids, cams, shots, np.random.default_rng((0, 1)))
        assert np.array_equal(idx, again) and not np.array_equal(idx, other)


@pytest.mark.parametrize('mode,shots', [('all', 1), ('indoor', 1), ('all', 10), ('indoor', 10)])
def test_sysu_trials_mean_vs_brute_force(mode, shots):
    rng = np.random.default_rng(1)
    feats, pids, cams = sysu_world(rng, n_ids=6, per_cam=11)
    q = np.isin(cams, [2, 5])
    gal_cams = [0, 1, 3, 4] if mode == 'all' else [0, 1]
    pool = np.isin(cams, gal_cams)
    res = evaluate_sysu(feats[q], feats[~q], pids[q], pids[~q], cams[q], cams[~q], mode=mode,
                        shots=shots, trials=3, seed=7, max_rank=10, log=False)
    ref = []
    for t in range(3):
        idx = sample_sysu_gallery(pids[pool], cams[pool], shots, np.random.default_rng((7, t)))
        gf, gp, gc = feats[pool][idx], pids[pool][idx], cams[pool][idx]
        assert set(gc.tolist()) == set(gal_cams)
        ref.append(reference_sysu_trial(euclid(feats[q], gf), pids[q], gp, cams[q], gc, 10))
    ref_cmc = np.mean([r[0] for r in ref], axis=0)
    np.testing.assert_allclose(res.mean.cmc, ref_cmc, atol=1e-6)
    assert res.mean.mAP == pytest.approx(np.mean([r[1] for r in ref]), abs=1e-6)
    assert res.mean.mINP == pytest.approx(np.mean([r[2] for r in ref]), abs=1e-6)
    assert len(res.trials) == 3
    assert set(res.to_dict((1, 5, 10))) == {'R1', 'R5', 'R10', 'mAP', 'mINP'}


def _write_perm(path, n_ids, per_cam, trials, shots_avail, rng):
    from scipy.io import savemat
    cam_cells = np.empty((6, 1), dtype=object)
    for c in range(6):
        per_pid = np.empty((1, n_ids), dtype=object)
        for p in range(n_ids):
            per_pid[0, p] = np.stack([rng.permutation(per_cam)[:shots_avail] + 1
                                      for _ in range(trials)]).astype(np.float64)
        cam_cells[c, 0] = per_pid
    savemat(path, {'rand_perm_cam': cam_cells})


def test_sysu_official_permutation_file(tmp_path):
    rng = np.random.default_rng(2)
    feats, pids, cams = sysu_world(rng, n_ids=4, per_cam=10)
    numbers = np.tile(np.arange(1, 11), len(pids) // 10)
    paths = [f'/data/SYSU-MM01/cam{c + 1}/{p:04d}/{n:04d}.jpg'
             for p, c, n in zip(pids, cams, numbers)]
    perm_path = str(tmp_path / 'rand_perm_cam.mat')
    _write_perm(perm_path, 4, 10, trials=2, shots_avail=10, rng=rng)
    table = load_sysu_permutation(perm_path)
    q = np.isin(cams, [2, 5])
    gi = np.flatnonzero(~q)
    res = evaluate_sysu(feats[q], feats[gi], pids[q], pids[gi], cams[q], cams[gi],
                        mode='indoor', shots=1, trials=2, permutation=table,
                        g_paths=[paths[i] for i in gi], max_rank=5, log=False)
    for t in range(2):  # the gallery of trial t = the images the table names
        chosen = [i for i in gi if cams[i] in (0, 1)
                  and numbers[i] == table[cams[i]][pids[i] - 1][t][0]]
        ref = reference_sysu_trial(euclid(feats[q], feats[chosen]), pids[q], pids[chosen],
                                   cams[q], cams[chosen], 5)
        assert res.trials[t].mAP == pytest.approx(ref[1], abs=1e-6)
        np.testing.assert_allclose(res.trials[t].cmc, ref[0], atol=1e-6)
    from scipy.io import savemat
    bad = str(tmp_path / 'bad.mat')
    savemat(bad, {'something_else': np.zeros(3)})
    with pytest.raises(ValueError, match='rand_perm_cam'):
        load_sysu_permutation(bad)
    savemat(bad, {'rand_perm_cam': np.zeros((6, 1))})
    with pytest.raises(ValueError, match='cell array'):
        load_sysu_permutation(bad)


def _samples(feats, pids, cams, mods):
    return [dict(pred_feature=torch.from_numpy(f), pid=int(p), camid=int(c), modality=m)
            for f, p, c, m in zip(feats, pids, cams, mods)]


def test_sysu_metric_end_to_end_and_camid_guard():
    rng = np.random.default_rng(3)
    feats, pids, cams = sysu_world(rng, n_ids=5, per_cam=3)
    mods = ['infrared' if c in (2, 5) else 'visible' for c in cams]
    metric = SYSUMetric(mode='all', shots=1, trials=2, seed=0)
    metric.process(None, _samples(feats, pids, cams, mods))
    out = metric.evaluate(len(pids))
    q = np.isin(cams, [2, 5])
    direct = evaluate_sysu(feats[q], feats[~q], pids[q], pids[~q], cams[q], cams[~q],
                           trials=2, seed=0, max_rank=20, log=False).to_dict()
    assert out == pytest.approx(direct)
    wrong = SYSUMetric()
    wrong.process(None, _samples(feats, pids, cams + 1 - (cams == 5) * 6, mods))  # 1-based-ish
    with pytest.raises(ValueError, match='0-based'):
        wrong.evaluate(len(pids))


# ----------------------------------------------------------------------------- RegDB
def test_regdb_both_directions_vs_brute_force():
    rng = np.random.default_rng(4)
    n_ids, per = 6, 4
    centres = rng.normal(size=(n_ids, 8))
    pids = np.repeat(np.arange(n_ids), per)
    vis = centres[pids] + rng.normal(size=(len(pids), 8))
    ir = centres[pids] + rng.normal(size=(len(pids), 8))
    feats = np.concatenate([vis, ir]).astype(np.float32)
    all_pids = np.concatenate([pids, pids])
    mods = ['visible'] * len(pids) + ['infrared'] * len(pids)
    res = evaluate_regdb(feats, all_pids, mods, max_rank=10)
    for name, qf, gf in (('visible->thermal', vis, ir), ('thermal->visible', ir, vis)):
        ref = reference_plain(euclid(qf.astype(np.float32), gf.astype(np.float32)), pids, pids,
                              10)
        np.testing.assert_allclose(res[name].cmc, ref[0], atol=1e-6)
        assert res[name].mAP == pytest.approx(ref[1], abs=1e-6)
        assert res[name].mINP == pytest.approx(ref[2], abs=1e-6)
    metric = RegDBMetric()
    # camids that would trigger the market rule are ignored: query camid == gallery camid here
    metric.process(None, _samples(feats, all_pids, np.zeros(len(feats)), mods))
    out = metric.evaluate(len(feats))
    assert out['v2t_R1'] == pytest.approx(100 * res['visible->thermal'].cmc[0])
    assert out['t2v_mAP'] == pytest.approx(100 * res['thermal->visible'].mAP)
    with pytest.raises(ValueError, match='both modalities'):
        evaluate_regdb(feats[:4], all_pids[:4], ['visible'] * 4)


# ----------------------------------------------------------------------------- text -> image
def test_text_to_image_vs_brute_force():
    rng = np.random.default_rng(5)
    n_ids = 7
    centres = rng.normal(size=(n_ids, 16))
    img_pids = rng.integers(0, n_ids, 20)
    img = centres[img_pids] + 0.8 * rng.normal(size=(20, 16))
    caps_per_img = rng.integers(0, 3, 20)  # some images without captions
    txt_pids = np.repeat(img_pids, caps_per_img)
    txt = centres[txt_pids] + 0.8 * rng.normal(size=(len(txt_pids), 16))
    # IRRA: similarity = normalised text @ normalised image^T, ranked descending
    tn = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    im = img / np.linalg.norm(img, axis=1, keepdims=True)
    ref = reference_plain(-(tn @ im.T), txt_pids, img_pids, 10)
    res = evaluate_text_to_image(torch.from_numpy(txt), torch.from_numpy(img), txt_pids,
                                 img_pids)
    np.testing.assert_allclose(res.cmc, ref[0], atol=1e-6)
    assert res.mAP == pytest.approx(ref[1], abs=1e-6)
    assert res.mINP == pytest.approx(ref[2], abs=1e-6)
    metric = TextImageMetric()
    samples, start = [], 0
    for i in range(20):
        s = dict(pred_feature=torch.from_numpy(img[i]), pid=int(img_pids[i]))
        if caps_per_img[i]:
            s['text_features'] = torch.from_numpy(txt[start:start + caps_per_img[i]])
        start += caps_per_img[i]
        samples.append(s)
    metric.process(None, samples)
    out = metric.evaluate(20)
    assert out == pytest.approx(res.to_dict((1, 5, 10)))
    assert set(out) == {'R1', 'R5', 'R10', 'mAP', 'mINP'}
    empty = TextImageMetric()
    empty.process(None, [dict(pred_feature=torch.randn(4), pid=0)])
    with pytest.raises(ValueError, match='text_features'):
        empty.evaluate(1)


@pytest.mark.parametrize('which', ['sysu', 'regdb'])
def test_cross_modality_metrics_save_image_paths_in_query_gallery_order(tmp_path, which):
    rng = np.random.default_rng(5)
    feats, pids, cams = sysu_world(rng, n_ids=4, per_cam=2)
    if which == 'sysu':
        mods = ['infrared' if c in (2, 5) else 'visible' for c in cams]
        metric = SYSUMetric(trials=1, save_features=str(tmp_path / 'f.npz'))
        is_query = np.isin(cams, [2, 5])
    else:
        mods = ['visible' if i % 2 else 'infrared' for i in range(len(cams))]
        metric = RegDBMetric(save_features=str(tmp_path / 'f.npz'))
        is_query = np.asarray(mods) == 'visible'
    samples = _samples(feats, pids, cams, mods)
    for i, s in enumerate(samples):
        s['img_path'] = f'img_{i:03d}.jpg'
    metric.process(None, samples)
    metric.evaluate(len(samples))
    saved = np.load(tmp_path / 'f.npz')
    assert saved['q_img_paths'].tolist() == [f'img_{i:03d}.jpg'
                                             for i in np.flatnonzero(is_query)]
    assert saved['g_img_paths'].tolist() == [f'img_{i:03d}.jpg'
                                             for i in np.flatnonzero(~is_query)]
    np.testing.assert_array_equal(saved['q_pids'], pids[is_query])


def test_sysu_trials_std_is_the_sample_std_of_the_trials():
    """TrialsResult.std_dict: np.std(ddof=1) over the per-trial values (hand check on 3 trials),
    and the mean of to_dict equals the per-trial mean."""
    import numpy as np

    from asym_plugins.evaluation.protocols import TrialsResult, average_results
    from asym_plugins.evaluation.rank import RankResult
    trials = [RankResult(np.array([a, 1.0, 1.0], np.float32), m, m / 2, 4, 0)
              for a, m in ((0.5, 0.2), (0.75, 0.4), (1.0, 0.9))]
    res = TrialsResult(average_results(trials), trials)
    std = res.std_dict(ranks=(1,))
    # R1 values 50, 75, 100 -> sample std 25; mAP 20, 40, 90 -> sqrt(((-30)^2+(-10)^2+40^2)/2)
    assert abs(std['R1'] - 25.0) < 1e-4
    assert abs(std['mAP'] - (1300.0) ** 0.5) < 1e-4
    assert abs(res.to_dict(ranks=(1,))['mAP'] - 50.0) < 1e-4
    single = TrialsResult(trials[0], trials[:1]).std_dict(ranks=(1,))
    assert single == {k: 0.0 for k in single}
