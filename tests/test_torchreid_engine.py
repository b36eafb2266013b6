"""torchreid's own ImageDataManager and ImageTripletEngine train one of our registered models on
a writer-made Market-1501 layout, and the checkpoint it writes evaluates to the same R1/mAP
through MMEngine (tools/test.py, ReIDMetric)."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import require, torchreid_distance, torchreid_evaluate_rank  # noqa: E402

torchreid = require('torchreid')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
H, W = 64, 32


def _torchreid():
    from asym_plugins.integrations.torchreid import compat
    return compat.torchreid_module('data'), compat.torchreid_module('models'), \
        compat.torchreid_module('engine'), compat.torchreid_module('optim')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One epoch of asym_small with torchreid's stock triplet engine, then its final test."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    from asym_plugins.data.synthetic.writer import write_layout
    from asym_plugins.integrations.torchreid import register_all
    root = str(tmp_path_factory.mktemp('reid_data'))
    write_layout('market1501', root, num_train_ids=8, num_test_ids=6, img_size=(H, W))
    register_all()
    data, models, engine_mod, optim = _torchreid()
    dm = data.ImageDataManager(root=root, sources='asym_market1501', height=H, width=W,
                               batch_size_train=16, batch_size_test=64, workers=0,
                               num_instances=4, train_sampler='RandomIdentitySampler',
                               transforms=['random_flip'], use_gpu=False)
    model = models.build_model('asym_small', num_classes=dm.num_train_pids, loss='triplet',
                               pretrained=False, use_gpu=False)
    optimizer = optim.build_optimizer(model, optim='adam', lr=3e-4)
    # torchreid's save_model needs a scheduler (it calls scheduler.state_dict())
    scheduler = optim.build_lr_scheduler(optimizer, lr_scheduler='single_step', stepsize=20)
    engine = engine_mod.ImageTripletEngine(dm, model, optimizer, margin=0.3, scheduler=scheduler,
                                           use_gpu=False)
    save_dir = str(tmp_path_factory.mktemp('log'))
    engine.run(save_dir=save_dir, max_epoch=1, print_freq=1000, ranks=[1, 5])
    loaders = dict(dataset_name='asym_market1501',
                   query_loader=dm.test_loader['asym_market1501']['query'],
                   gallery_loader=dm.test_loader['asym_market1501']['gallery'], ranks=[1, 5])
    rank1, mAP = engine._evaluate(**loaders)  # with our evaluator (register_all installed it)
    # torchreid alone: its engine's feature extraction, distance and evaluator (its evaluator
    # needs max_rank <= every query's gallery list, so 5 here, not its default 50)
    feats = {}
    model.eval()
    with torch.no_grad():
        for side in ('query', 'gallery'):
            parts = [engine.parse_data_for_eval(d) for d in loaders[f'{side}_loader']]
            feats[side] = (torch.cat([engine.extract_features(p[0]) for p in parts]),
                           np.concatenate([p[1].numpy() for p in parts]),
                           np.concatenate([p[2].numpy() for p in parts]))
    (qf, q_pids, q_cams), (gf, g_pids, g_cams) = feats['query'], feats['gallery']
    tr_cmc, tr_mAP = torchreid_evaluate_rank(torchreid_distance(qf, gf), q_pids, g_pids,
                                             q_cams, g_cams, max_rank=5)
    tr_rank1 = tr_cmc[0]
    ckpt = osp.join(save_dir, 'model', 'model.pth.tar-1')
    return dict(root=root, dm=dm, model=model, rank1=float(rank1), mAP=float(mAP), ckpt=ckpt,
                save_dir=save_dir, tr_rank1=float(tr_rank1), tr_mAP=float(tr_mAP))


def test_torchreid_engine_trains_and_evaluates_registered_model(trained):
    dm = trained['dm']
    assert dm.num_train_pids == 8
    query = dm.test_loader['asym_market1501']['query'].dataset
    # junk (pid -1) is dropped by our parser, distractors (pid 0) stay in the gallery
    assert all(pid >= 0 for _, pid, _, _ in dm.test_loader['asym_market1501']['gallery']
               .dataset.gallery)
    assert len(query.query) == 12
    # our evaluator (installed into torchreid) gives torchreid's own numbers on the same run
    assert trained['rank1'] == pytest.approx(trained['tr_rank1'], abs=1e-6)
    assert trained['mAP'] == pytest.approx(trained['tr_mAP'], abs=1e-6)
    assert 0.0 < trained['tr_mAP'] < 1.0  # neither degenerate case (all or no positives first)
    assert osp.isfile(trained['ckpt'])
    # torchreid's checkpoint keeps rank1 as a numpy scalar: our loader reads it (torch >= 2.6)
    from asym_plugins.integrations.torchreid.checkpoint import load_checkpoint
    ckpt = load_checkpoint(trained['ckpt'])
    assert isinstance(ckpt['rank1'], np.generic)
    assert set(ckpt['state_dict']) == set(trained['model'].state_dict())


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(f'_tool_{name}',
                                                  osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_same_checkpoint_same_metrics_in_mmengine(trained, tmp_path):
    from mmengine.config import Config

    from asym_plugins.integrations.torchreid.models import mmengine_model_config
    test_pipeline = [dict(type='LoadReIDImage', skip_undecodable=False),
                     dict(type='Resize', scale=(W, H), keep_ratio=False),
                     dict(type='PackReIDInputs')]
    side = dict(type='Market1501', data_root=trained['root'], pipeline=test_pipeline)
    cfg = Config(dict(
        default_scope='asym',
        custom_imports=dict(imports=['asym_plugins'], allow_failed_imports=False),
        model=mmengine_model_config(trained['model']),
        test_dataloader=dict(batch_size=64, num_workers=0,
                             sampler=dict(type='DefaultSampler', shuffle=False),
                             dataset=dict(type='QueryGalleryDataset',
                                          query=dict(side, split='query'),
                                          gallery=dict(side, split='gallery'))),
        test_evaluator=dict(type='ReIDMetric', metric='euclidean'),
        test_cfg=dict(type='TestLoop'),
        env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo')),
        log_level='WARNING'))
    cfg_path = str(tmp_path / 'asym_small_market_test.py')
    cfg.dump(cfg_path)
    # The very file torchreid wrote: same state-dict keys in both toolboxes, and importing
    # asym_plugins allow-lists its numpy scalar for MMEngine's weights_only loader.
    metrics = _load_tool('test').main([cfg_path, trained['ckpt'], '--work-dir',
                                       str(tmp_path / 'work')])
    assert metrics['R1'] / 100.0 == pytest.approx(trained['tr_rank1'], abs=1e-6)
    assert metrics['mAP'] / 100.0 == pytest.approx(trained['tr_mAP'], abs=1e-6)
    # ... and the converted MMEngine checkpoint (state_dict + meta) gives the same again
    from asym_plugins.integrations.torchreid.checkpoint import torchreid_to_mmengine
    mm_ckpt = torchreid_to_mmengine(trained['ckpt'], str(tmp_path / 'asym_small_mmengine.pth'))
    metrics = _load_tool('test').main([cfg_path, mm_ckpt, '--work-dir', str(tmp_path / 'work')])
    assert metrics['R1'] / 100.0 == pytest.approx(trained['tr_rank1'], abs=1e-6)
    assert metrics['mAP'] / 100.0 == pytest.approx(trained['tr_mAP'], abs=1e-6)
