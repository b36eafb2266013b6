"""SYSUMetric(mode='all') refuses a gallery pool built for indoor search (issue: an indoor pool
scored as all-search); the indoor metric accepts both pools."""
import numpy as np
import pytest
import torch

from asym_plugins.evaluation.metrics.cross_modality_metric import SYSUMetric


def _results(gallery_cams):
    rng = np.random.default_rng(0)
    out = []
    for pid in range(3):
        out.append(dict(feature=torch.tensor(rng.random(4), dtype=torch.float32), pid=pid,
                        camid=2, modality='infrared'))
        for cam in gallery_cams:
            out.append(dict(feature=torch.tensor(rng.random(4), dtype=torch.float32), pid=pid,
                            camid=cam, modality='visible'))
    return out


def test_all_search_metric_refuses_an_indoor_pool():
    with pytest.raises(ValueError, match="search_mode='indoor'"):
        SYSUMetric(mode='all', trials=2).compute_metrics(_results([0, 1]))


def test_matching_modes_are_scored():
    all_pool = SYSUMetric(mode='all', trials=2).compute_metrics(_results([0, 1, 3, 4]))
    indoor = SYSUMetric(mode='indoor', trials=2).compute_metrics(_results([0, 1]))
    assert set(all_pool) == set(indoor) and 'mAP' in all_pool
    # an indoor metric on the all-search pool keeps only cams 1, 2: same numbers as the
    # indoor pool with the same features of those cameras
    rows = _results([0, 1, 3, 4])
    indoor_from_all = SYSUMetric(mode='indoor', trials=2).compute_metrics(rows)
    only_indoor = [r for r in rows if r['camid'] in (0, 1, 2)]
    assert indoor_from_all == SYSUMetric(mode='indoor', trials=2).compute_metrics(only_indoor)
