"""Sane inputs to the re-rankers (issue 21 item 5): negative and overflow-prone distances.

Both re-rankers square the distances, so ``-cos`` (which ranks like ``1 - cos``) gives different
rankings, and huge scales overflow to NaN. Each test first shows the defect on the arithmetic the
re-rankers use, then that the public functions refuse such input with a message naming the fix.
"""
import numpy as np
import pytest

from asym_plugins.methods.sim import k_reciprocal_rerank, similarity_inference


def _cos(seed=0, nq=8, ng=24, dim=6):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((nq, dim))
    g = rng.standard_normal((ng, dim))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return q @ g.T, q @ q.T, g @ g.T


def test_squaring_breaks_negated_similarities():
    """The defect: -cos and 1 - cos rank alike, their squares do not."""
    qg = _cos()[0]
    rank_neg = np.argsort((-qg) ** 2, axis=1)[:, 0]
    rank_dist = np.argsort((1 - qg) ** 2, axis=1)[:, 0]
    assert (rank_neg != rank_dist).any()


def test_k_reciprocal_refuses_negative_distances():
    qg, qq, gg = _cos()
    with pytest.raises(ValueError, match=r'dist_qg has negative entries.*1 - cos'):
        k_reciprocal_rerank(-qg, -qq, -gg)
    with pytest.raises(ValueError, match='dist_qq has negative entries'):
        k_reciprocal_rerank(1 - qg, -qq, 1 - gg)
    out = k_reciprocal_rerank(1 - qg, 1 - qq, 1 - gg)
    assert np.isfinite(out).all()


def test_overflow_defect_and_refusal():
    qg, qq, gg = _cos()
    big = (1 - qg).astype(np.float32) * np.float32(1e20)
    with np.errstate(over='ignore', invalid='ignore'):
        sq = big ** 2
        assert not np.isfinite(sq / sq.max(axis=1, keepdims=True)).all()  # the defect
    with pytest.raises(ValueError, match=r'dist_qg has entries up to .*common scale'):
        k_reciprocal_rerank(big, (1 - qq) * 1e20, (1 - gg) * 1e20)
    with pytest.raises(ValueError, match='common scale'):
        similarity_inference(big, (1 - gg) * 1e20)
