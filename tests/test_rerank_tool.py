"""tools/rerank.py on a small npz: after-metrics equal the library calls; errors are clear."""
import json
import os.path as osp
import re
import runpy
import sys

import numpy as np
import pytest
import torch

from asym_plugins.evaluation import compute_distance, evaluate_rank, evaluate_sysu, l2_normalize
from asym_plugins.methods.sim import SIMReranker, k_reciprocal_rerank, similarity_inference

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import rerank as rerank_tool  # noqa: E402


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def npz(tmp_path):
    """20 identities; infrared queries (camids 2, 5), visible gallery (camids 0, 1, 3, 4)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    q_pids, g_pids = np.repeat(np.arange(20), 3), np.repeat(np.arange(20), 6)
    qf = centres[q_pids] + rng.normal(scale=0.9, size=(60, 16))
    gf = centres[g_pids] + rng.normal(scale=0.9, size=(120, 16))
    path = tmp_path / 'feats.npz'
    np.savez(path, qf=qf.astype(np.float32), gf=gf.astype(np.float32), q_pids=q_pids,
             g_pids=g_pids, q_camids=rng.choice([2, 5], 60), g_camids=rng.choice([0, 1, 3, 4],
                                                                                   120))
    return path


def _direct(path, swap=False):
    d = np.load(path)
    q, g = ('gf', 'qf') if swap else ('qf', 'gf')
    qs, gs = ('g', 'q') if swap else ('q', 'g')
    qf, gf = l2_normalize(torch.from_numpy(d[q])), l2_normalize(torch.from_numpy(d[g]))
    ids = (d[f'{qs}_pids'], d[f'{gs}_pids'], d[f'{qs}_camids'], d[f'{gs}_camids'])
    return qf, gf, ids


def _metrics(text, which):
    line = [ln for ln in text.splitlines() if ln.startswith(which)][-1]
    return {k: float(v) for k, v in re.findall(r'(R\d+|mAP|mINP)\s+([\d.]+)', line)}


@pytest.mark.parametrize('argv, kwargs, swap', [
    ([], dict(mode='official', preset='sysu_mm01'), False),
    (['--preset', 'regdb', '--components', 'graph'],
     dict(mode='official', preset='regdb', components='graph'), False),
    (['--components', 'mutual', '--alpha', '0.0', '--k-g', '8', '--swap'],
     dict(mode='official', components='mutual', alpha=0.0, k_g=8), True),
    (['--mode', 'equations', '--lam', '0.3', '--K', '4', '--k-q', '6', '--prune-T', '30'],
     dict(mode='equations', lam=0.3, K=4, k_q=6, prune_T=30), False),
])
def test_after_metrics_equal_similarity_inference_plus_evaluate_rank(npz, capsys, argv,
                                                                      kwargs, swap):
    res = rerank_tool.main([str(npz), *argv])
    printed = capsys.readouterr().out
    qf, gf, ids = _direct(npz, swap)
    dist = compute_distance(qf, gf)
    before = evaluate_rank(dist, *ids).to_dict((1, 5, 10))
    after = evaluate_rank(similarity_inference(dist, compute_distance(gf, gf), **kwargs),
                          *ids).to_dict((1, 5, 10))
    assert res['before'] == before and res['after'] == after
    for which, expected in (('before', before), ('after', after)):
        shown = _metrics(printed, which)
        assert shown.keys() == expected.keys()
        assert all(abs(shown[k] - expected[k]) < 0.006 for k in shown)
    assert res['after'] != res['before']


def test_k_reciprocal_and_sysu_protocol(npz, tmp_path):
    qf, gf, ids = _direct(npz)
    out = tmp_path / 'res.json'
    res = rerank_tool.main([str(npz), '--method', 'k_reciprocal', '--k1', '10', '--k2', '3',
                            '--json', str(out)])
    dist = k_reciprocal_rerank(compute_distance(qf, gf), compute_distance(qf, qf),
                               compute_distance(gf, gf), k1=10, k2=3, lambda_value=0.3)
    assert res['after'] == evaluate_rank(dist, *ids).to_dict((1, 5, 10))
    assert json.loads(out.read_text())['after'] == res['after']
    # SYSU-MM01 rules: multi-shot random galleries, SIM re-ranks each trial's gallery.
    res = rerank_tool.main([str(npz), '--protocol', 'sysu', '--shots', '2', '--trials', '2'])
    direct = evaluate_sysu(qf, gf, *ids, shots=2, trials=2, log=False,
                           reranker=SIMReranker(preset='sysu_mm01'), max_rank=20)
    assert res['after'] == direct.to_dict((1, 10, 20))
    with pytest.raises(ValueError, match='--protocol sysu needs SYSU-MM01 camids'):
        rerank_tool.main([str(npz), '--protocol', 'sysu', '--swap'])


def test_clear_errors(npz, tmp_path):
    d = dict(np.load(npz))
    partial = tmp_path / 'partial.npz'
    np.savez(partial, **{k: v for k, v in d.items() if k not in ('g_camids', 'gf')})
    with pytest.raises(KeyError, match=r"lacks the key\(s\) \['gf', 'g_camids'\]"):
        rerank_tool.main([str(partial)])
    with pytest.raises(FileNotFoundError, match='--save-features'):
        rerank_tool.main([str(tmp_path / 'missing.npz')])
    bad = tmp_path / 'bad.npz'
    np.savez(bad, **dict(d, q_pids=d['q_pids'][:-1]))
    with pytest.raises(ValueError, match='q_pids has 59 entries but qf has 60 rows'):
        rerank_tool.main([str(bad)])
    nan = dict(d)
    nan['gf'] = d['gf'].copy()
    nan['gf'][3, 0] = np.nan
    np.savez(bad, **nan)
    with pytest.raises(ValueError, match='gf has NaN or inf'):
        rerank_tool.main([str(bad)])
    with pytest.raises(ValueError, match='larger than'):
        rerank_tool.main([str(npz), '--K', '25'])


def test_command_line(npz, capsys, monkeypatch):
    """The script entry point (run in-process: a fresh interpreter costs a minute of imports on
    the shared CPUs)."""
    monkeypatch.setattr(sys, 'argv', ['tools/rerank.py', str(npz), '--preset', 'regdb'])
    runpy.run_path(osp.join(ROOT, 'tools/rerank.py'), run_name='__main__')
    printed = capsys.readouterr().out
    qf, gf, ids = _direct(npz)
    expected = evaluate_rank(similarity_inference(compute_distance(qf, gf),
                                                  compute_distance(gf, gf), preset='regdb'),
                             *ids).to_dict((1, 5, 10))
    shown = _metrics(printed, 'after')
    assert all(abs(shown[k] - expected[k]) < 0.006 for k in expected)
    assert "reranker: SIMReranker(mode='official', lam=0.1, K=5" in printed


def test_sim_table_cells_equal_direct_library_calls(npz, capsys):
    """tools/sim_table.py: base / graph / mutual / SIM cells, both directions, scaled k."""
    import sim_table
    out = sim_table.table(sim_table.parse_args([f'M={npz}', '--scale-k']))['M']
    for direction, swap in (('IR->VIS', False), ('VIS->IR', True)):
        qf, gf, ids = _direct(npz, swap)
        dist = compute_distance(qf, gf, 'euclidean')
        assert out[direction]['base']['mAP'] == pytest.approx(
            100 * evaluate_rank(dist, *ids).mAP, abs=1e-6)
        per_id = 6 if not swap else 3                   # gallery images per identity
        k_q, k_g = max(1, round(12 * per_id / 31)), max(1, round(20 * per_id / 31))
        for row, comp in (('+ graph inference', 'graph'), ('+ mutual-NN inference', 'mutual'),
                          ('+ SIM', 'both')):
            ref = similarity_inference(dist, compute_distance(gf, gf, 'euclidean'),
                                       k_q=k_q, k_g=k_g, components=comp)
            assert out[direction][row]['mAP'] == pytest.approx(
                100 * evaluate_rank(ref, *ids).mAP, abs=1e-6)
    table = capsys.readouterr().out
    assert '| M | + SIM |' in table and 'k_q 2, k_g 4' in table   # 6 per id: 12*6/31 -> 2
