"""tools/visualize.py ranks with the method's own measure (MoS: its Jaccard distance) and every
figure carries a legend."""
import argparse
import os.path as osp
import sys

import numpy as np
import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import visualize  # noqa: E402

from asym_plugins.visualization import Cell, SheetLayout, compose_sheet  # noqa: E402


def _feats(rng, nq=5, ng=7, c=6):
    return dict(qf=rng.random((nq, c)).astype(np.float32),
                gf=rng.random((ng, c)).astype(np.float32))


def test_mos_ranklist_uses_the_jaccard_distance():
    rng = np.random.default_rng(0)
    feats = _feats(rng)
    cfg = Config(dict(test_evaluator=dict(type='asym.MoSMetric')))
    args = argparse.Namespace(metric=None)
    dist, name = visualize.method_distance(feats, args, cfg, None)
    assert name == 'MoSMetric'
    # brute force: 1 - sum(min) / sum(max) per pair (hard Jaccard of non-negative patterns)
    ref = np.array([[1 - np.minimum(q, g).sum() / np.maximum(q, g).sum() for g in feats['gf']]
                    for q in feats['qf']])
    np.testing.assert_allclose(np.asarray(dist), ref, atol=1e-5)
    # a Euclidean ranking differs on these features for at least one query
    eu = np.linalg.norm(feats['qf'][:, None] - feats['gf'][None], axis=2)
    assert (np.argsort(eu, 1) != np.argsort(ref, 1)).any()


def test_plain_metrics_and_explicit_metric_use_the_feature_distance():
    feats = _feats(np.random.default_rng(1))
    cfg = Config(dict(test_evaluator=dict(type='asym.ReIDMetric')))
    assert visualize.method_distance(feats, argparse.Namespace(metric=None), cfg, None) is None
    cfg = Config(dict(test_evaluator=dict(type='asym.MoSMetric')))
    assert visualize.method_distance(feats, argparse.Namespace(metric='euclidean'), cfg,
                                     None) is None


def test_mos_with_cp_and_no_prior_says_what_to_do():
    feats = _feats(np.random.default_rng(2))
    cfg = Config(dict(test_evaluator=dict(type='asym.MoSMetric', cp_lambda=0.5)))
    from asym_plugins.engine.cli import UserError
    with pytest.raises(UserError, match='--metric euclidean'):
        visualize.method_distance(feats, argparse.Namespace(metric=None), cfg, None)


def test_legend_is_drawn_under_the_rows():
    img = np.zeros((8, 4, 3), np.uint8)
    rows = [[[Cell(img, None, 'a')]]]
    layout = SheetLayout(size=(8, 4))
    plain, boxes = compose_sheet(rows, layout)
    with_legend, boxes2 = compose_sheet(rows, layout, legend='green = same identity')
    assert with_legend.shape[0] == plain.shape[0] + layout.legend_h
    assert boxes2 == boxes
    strip = with_legend[-layout.margin - layout.legend_h:-layout.margin]
    assert (strip < 255).any()          # text was written
    assert (plain[-layout.margin:] == 255).all()


def test_cli_stop_is_one_line_exit_2(tmp_path):
    """A user mistake stops with "visualize.py: error: ..." and exit 2, no traceback."""
    import subprocess
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools/visualize.py'), 'sim', '--out',
                           str(tmp_path / 'x.png')], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert 'error: give --features NPZ' in proc.stderr and 'Traceback' not in proc.stderr
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools/visualize.py'), 'sim', '--out',
                           str(tmp_path / 'x.png'), '--debug'], capture_output=True, text=True)
    assert proc.returncode == 1 and 'Traceback' in proc.stderr
