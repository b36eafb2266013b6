"""MoS in torchreid (Jaccard triplet + prior in training, 1 - J with CP at test, equal to
MoSMetric), SIM / k-reciprocal in torchreid's test flow, the synthetic datasets."""
import pytest
import torch
from conftest import require, torchreid_distance, torchreid_evaluate_rank  # noqa: E402

require('torchreid')

from asym_plugins.integrations.torchreid import compat, register_all  # noqa: E402

H, W = 64, 32


@pytest.fixture(scope='module')
def occluded_dm(tmp_path_factory):
    torch.set_num_threads(1)
    from asym_plugins.integrations.torchreid.datasets import synthetic_dataset_class
    from asym_plugins.integrations.torchreid.registration import register_dataset
    register_all()
    register_dataset('synthetic_occluded', synthetic_dataset_class(
        'occluded', name='synthetic_occluded', seed=0, num_train_ids=6, num_test_ids=5,
        img_size=(H, W)))
    root = str(tmp_path_factory.mktemp('synth'))
    dm = compat.torchreid_module('data').ImageDataManager(
        root=root, sources='synthetic_occluded', height=H, width=W, batch_size_train=8,
        batch_size_test=64, workers=0, num_instances=4, train_sampler='RandomIdentitySampler',
        transforms=['random_flip'], use_gpu=False)
    return dm


def _loaders(dm):
    name = dm.targets[0]
    return name, dm.test_loader[name]['query'], dm.test_loader[name]['gallery']


def test_synthetic_dataset_items_and_cache(occluded_dm):
    dm = occluded_dm
    train = dm.train_loader.dataset
    assert dm.num_train_pids == 6
    assert sorted({pid for _, pid, _, _ in train.train}) == list(range(6))
    item = train[0]
    assert item['img'].shape == (3, H, W) and item['modality'] == 0
    train.return_part_mask = True
    try:
        item = train[0]
    finally:
        train.return_part_mask = False
    assert item['part_mask'].shape == (H, W) and int(item['part_mask'].max()) <= 6
    # a second manager reuses the rendered world
    cls = compat.image_dataset_registry()['synthetic_occluded']
    assert len(cls(root=train.root, mode='query', verbose=False)) == len(train.query)


def test_mos_engine_trains_and_matches_mos_metric(occluded_dm, tmp_path):
    from asym_plugins.integrations.torchreid.engines import MoSEngine
    from asym_plugins.methods.mos import MoSMetric
    dm = occluded_dm
    model = compat.torchreid_module('models').build_model('mos_small', dm.num_train_pids,
                                                          loss='triplet', pretrained=False)
    optimizer = compat.torchreid_module('optim').build_optimizer(model, optim='adam', lr=1e-3)
    engine = MoSEngine(dm, model, optimizer, cp_lambda=0.1, top_r=10, use_gpu=False)
    engine.run(max_epoch=1, print_freq=1000, ranks=[1, 5], save_dir=str(tmp_path))
    assert (tmp_path / 'model' / 'model.pth.tar-1').is_file()  # saved without a scheduler
    prior = engine.asym_model.prior
    assert int(prior.num_updates) > 0 and float(prior.M_p.max()) > 0
    res = engine.last_results
    name, q_loader, g_loader = _loaders(dm)
    qf, q_pids, q_cams = engine.extract_split(q_loader)
    gf, g_pids, g_cams = engine.extract_split(g_loader)
    assert float(qf.min()) >= 0  # pattern vectors g
    metric = MoSMetric(cp_lambda=0.1, top_r=10)
    metric.set_prior(prior.M_p)
    ref = metric.evaluate_features(qf, gf, q_pids, g_pids, q_cams, g_cams)
    assert 100 * res['rank1'] == pytest.approx(ref['R1'], abs=1e-6)
    assert 100 * res['mAP'] == pytest.approx(ref['mAP'], abs=1e-6)
    # ... and torchreid's own evaluator on the MoS distances (1 - J, CP re-scored)
    cmc, tr_map = torchreid_evaluate_rank(metric.compute_distmat(qf, gf), q_pids, g_pids, q_cams,
                                          g_cams, max_rank=5)
    assert res['rank1'] == pytest.approx(float(cmc[0]), abs=1e-6)
    assert res['mAP'] == pytest.approx(float(tr_map), abs=1e-6)


def test_rerankers_in_torchreid_test_flow(occluded_dm):
    from asym_plugins.integrations.torchreid import set_torchreid_reranker
    from asym_plugins.integrations.torchreid.engines import BoTEngine
    from asym_plugins.methods.sim import k_reciprocal_rerank, re_ranking, sim_re_ranking
    dm = occluded_dm
    models = compat.torchreid_module('models')
    model = models.build_model('bot_small', dm.num_train_pids, loss='triplet',
                               pretrained=False)
    optimizer = compat.torchreid_module('optim').build_optimizer(model, optim='adam', lr=1e-3)
    sim = dict(type='sim', K=3, k_q=4, k_g=6, n_graph=8)
    engine = BoTEngine(dm, model, optimizer, use_gpu=False, reranker=sim)
    engine.test(ranks=[1, 5])
    assert 'SIMReranker' in engine.last_results['reranker']
    engine.test(ranks=[1, 5], rerank=True)  # torchreid's switch: k-reciprocal
    assert 'KReciprocal' in engine.last_results['reranker']
    kr = engine.last_results
    # the same numbers as re-ranking the features by hand with the functional API
    name, q_loader, g_loader = _loaders(dm)
    engine.set_model_mode('eval')
    qf, q_pids, q_cams = engine.extract_split(q_loader)
    gf, g_pids, g_cams = engine.extract_split(g_loader)
    d = lambda a, b: torch.cdist(a, b).pow(2)  # noqa: E731  torchreid's 'euclidean'
    dist = k_reciprocal_rerank(d(qf, gf), d(qf, qf), d(gf, gf))
    from asym_plugins.evaluation import evaluate_rank
    cmc, mAP, _ = evaluate_rank(torch.as_tensor(dist), q_pids, g_pids, q_cams, g_cams,
                                max_rank=5)
    assert kr['mAP'] == pytest.approx(float(mAP), abs=1e-5)
    # ... and what torchreid's own re_ranking and evaluator make of the same features
    tr_rerank = require('torchreid.reid.utils.rerank').re_ranking
    assert 'asym_plugins' not in tr_rerank.__code__.co_filename
    tr_dist = tr_rerank(torchreid_distance(qf, gf).numpy(), torchreid_distance(qf, qf).numpy(),
                        torchreid_distance(gf, gf).numpy())
    tr_cmc, tr_map = torchreid_evaluate_rank(tr_dist, q_pids, g_pids, q_cams, g_cams, max_rank=5)
    assert kr['mAP'] == pytest.approx(float(tr_map), abs=1e-5)
    assert kr['rank1'] == pytest.approx(float(tr_cmc[0]), abs=1e-6)
    # torchreid's own engines: rerank=True runs what set_torchreid_reranker installed
    engine_mod = compat.torchreid_module('engine.engine')
    assert set_torchreid_reranker('sim') is sim_re_ranking
    assert engine_mod.re_ranking is sim_re_ranking
    set_torchreid_reranker('k_reciprocal')
    assert engine_mod.re_ranking is re_ranking
    stock = compat.engine_base('ImageSoftmaxEngine')(dm, model, optimizer, use_gpu=False)
    rank1 = stock.test(rerank=True, ranks=[1, 5])
    # the stock engine (its distances, our re_ranking and evaluator installed) gives the R1 of
    # torchreid's own re_ranking and evaluator above
    assert float(rank1) == pytest.approx(float(tr_cmc[0]), abs=1e-6)
