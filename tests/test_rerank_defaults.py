"""tools/rerank.py: "before" equals the evaluation that saved the features (its distance
settings travel in the file), and the warnings for SIM where it does not belong."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import rerank  # noqa: E402

from asym_plugins.evaluation.metrics.reid_metric import (  # noqa: E402
    ReIDMetric,
    load_feature_settings,
    save_features_npz,
)


def _results(modalities=('infrared', 'visible'), per_id=(2, 6), n_ids=5, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_ids, dim, generator=g) * 3
    out = []
    for split, mod, n in zip(('query', 'gallery'), modalities, per_id):
        for pid in range(n_ids):
            for k in range(n):
                f = centres[pid] + torch.randn(dim, generator=g) * 2 + 5  # far from the origin
                out.append(dict(feature=f, pid=pid, camid=0 if split == 'query' else 1,
                                split=split, modality=mod))
    return out


def test_before_equals_the_metric_that_saved_the_features(tmp_path):
    path = str(tmp_path / 'f.npz')
    metric = ReIDMetric(metric='euclidean', normalize_feature=False, save_features=path)
    reported = metric.compute_metrics(_results())
    settings = load_feature_settings(path)
    assert settings['metric'] == 'euclidean' and settings['normalize_feature'] is False
    assert settings['metric_class'] == 'ReIDMetric'
    out = rerank.main([path, '--preset', 'sysu_mm01', '--k-g', '4'])
    for k in ('R1', 'R5', 'mAP'):
        assert out['before'][k] == pytest.approx(reported[k], abs=1e-9), k
    assert out['metric'] == 'euclidean' and out['normalize'] is False
    # normalising changes the ranking of these features (so the default matters)
    norm = rerank.main([path, '--normalize', '--k-g', '4'])
    assert norm['before']['mAP'] != pytest.approx(reported['mAP'], abs=1e-6)


def test_a_file_without_settings_uses_normalised_euclidean(tmp_path):
    rng = np.random.default_rng(0)
    path = str(tmp_path / 'old.npz')
    save_features_npz(path, qf=rng.random((4, 3)), gf=rng.random((6, 3)),
                      q_pids=[0, 1, 2, 0], g_pids=[0, 1, 2, 0, 1, 2], q_camids=[0] * 4,
                      g_camids=[1] * 6)
    assert load_feature_settings(path) == {}
    out = rerank.main([path, '--k-g', '2', '--K', '3', '--k-q', '2'])
    assert out['metric'] == 'euclidean' and out['normalize'] is True


def test_same_modality_and_large_k_g_warn(tmp_path, capsys):
    path = str(tmp_path / 'same.npz')
    ReIDMetric(save_features=path).compute_metrics(_results(modalities=('visible', 'visible')))
    out = rerank.main([path])  # sysu preset: k_g = 20 vs 6 gallery images per identity
    err = capsys.readouterr().err
    assert 'both visible' in err and 'k_reciprocal' in err
    assert 'k_g=20' in err and '--k-g 6' in err
    assert len(out['warnings']) == 2
    cross = str(tmp_path / 'cross.npz')
    ReIDMetric(save_features=cross).compute_metrics(_results())
    out = rerank.main([cross, '--k-g', '6'])
    assert out['warnings'] == []
    # --swap exchanges the recorded modalities with the sides
    assert load_feature_settings(cross, swap=True)['q_modalities'][0] == 'visible'


@pytest.mark.parametrize('flags,kwargs', [
    (['--graph-update', 'parallel'], dict(graph_update='parallel')),
    (['--input-dtype', 'float16', '--ties', 'stable'], dict(input_dtype='float16',
                                                            ties='stable')),
])
def test_official_mode_switches_reach_sim(tmp_path, flags, kwargs):
    """--graph-update / --input-dtype / --ties give what similarity_inference gives by hand."""
    from asym_plugins.evaluation import compute_distance, evaluate_rank, l2_normalize
    from asym_plugins.methods.sim import similarity_inference
    path = str(tmp_path / 'f.npz')
    ReIDMetric(save_features=path).compute_metrics(_results(per_id=(2, 6), seed=3))
    out = rerank.main([path, '--k-g', '6', '--K', '3'] + flags)
    d = np.load(path)
    qf, gf = (torch.from_numpy(d[k]) for k in ('qf', 'gf'))
    if bool(d['normalize_feature']):   # the evaluation's setting, which rerank.py follows
        qf, gf = l2_normalize(qf), l2_normalize(gf)
    by_hand = similarity_inference(compute_distance(qf, gf, 'euclidean'),
                                   compute_distance(gf, gf, 'euclidean'), preset='sysu_mm01',
                                   k_g=6, K=3, **kwargs)
    ref = evaluate_rank(torch.as_tensor(by_hand), d['q_pids'], d['g_pids'], d['q_camids'],
                        d['g_camids'], max_rank=10).to_dict((1, 5, 10))
    assert out['after'] == pytest.approx(ref, abs=1e-9)
