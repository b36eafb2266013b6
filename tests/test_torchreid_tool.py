"""tools/torchreid_train.py with a yaml (SIM re-ranking in the test flow), the yacs config,
and cross-modality (AGW) batches."""
import glob
import importlib.util
import json
import os.path as osp

import pytest
import torch
import yaml
from conftest import require  # noqa: E402

require('torchreid')
require('yacs')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def test_every_yaml_loads_and_names_a_registered_model():
    from asym_plugins.integrations.torchreid.config import load_config, model_kwargs
    from asym_plugins.integrations.torchreid.registration import METHODS
    factories = {m for e in METHODS for m in e.models}
    paths = sorted(glob.glob(osp.join(ROOT, 'configs', 'torchreid', '*.yaml')))
    assert {osp.basename(p) for p in paths} >= {'baseline.yaml', 'mos.yaml', 'sap.yaml',
                                                'sim.yaml', 'mcma.yaml'}
    for path in paths:
        cfg = load_config(path)
        assert cfg.model.name in factories
        # nothing to download: False, or a local path (real-data presets)
        assert cfg.model.pretrained is False or (
            isinstance(cfg.model.pretrained, str) and '://' not in cfg.model.pretrained)
        if cfg.model.name.startswith(('sap_', 'mcma_')):
            assert model_kwargs(cfg)['img_size'] == (cfg.data.height, cfg.data.width)
    with pytest.raises(KeyError):
        load_config(paths[0], ['asym.no_such_key', '1'])


def _tool():
    spec = importlib.util.spec_from_file_location(
        '_torchreid_train', osp.join(ROOT, 'tools', 'torchreid_train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tiny(tmp_path, name, num_train_ids, *opts):
    """``tools/torchreid_train.py configs/torchreid/<name>.yaml`` for one epoch on a tiny
    synthetic world (64x32 images, ``num_train_ids`` training / 4 test identities) with SIM's
    neighbourhoods shrunk to its gallery; returns the summary."""
    opts = ['data.root', str(tmp_path / 'data'), 'data.save_dir', str(tmp_path / 'log'),
            'data.height', '64', 'data.width', '32', 'data.workers', '0',
            'train.max_epoch', '1', 'test.batch_size', '64',
            'asym.synthetic.num_train_ids', str(num_train_ids),
            'asym.synthetic.num_test_ids', '4'] + list(opts)
    # free-key sections (asym.rerank.sim) are set in a yaml: yacs' list merge cannot add keys
    with open(osp.join(ROOT, 'configs', 'torchreid', f'{name}.yaml')) as f:
        cfg = yaml.safe_load(f)
    cfg['asym']['rerank']['sim'] = dict(K=3, k_q=4, k_g=6, n_graph=8)
    path = str(tmp_path / f'{name}_tiny.yaml')
    with open(path, 'w') as f:
        yaml.safe_dump(cfg, f)
    return _tool().main([path] + opts)


def test_tool_trains_and_reports_with_and_without_sim(tmp_path):
    summary = run_tiny(tmp_path, 'sim', 4, 'train.batch_size', '8')
    assert set(summary['results']) == {'sim', 'sim+sim'}
    assert 'SIMReranker' in summary['results']['sim+sim']['reranker']
    with open(tmp_path / 'log' / 'results.json') as f:
        assert json.load(f)['results'] == summary['results']
    assert (tmp_path / 'log' / 'model' / 'model.pth.tar-1').is_file()


def test_cross_modality_batches_and_agw_engine(tmp_path):
    from asym_plugins.integrations.torchreid import compat, register_all
    from asym_plugins.integrations.torchreid.datasets import synthetic_dataset_class
    from asym_plugins.integrations.torchreid.engines import AGWEngine, TorchreidCrossModalitySampler
    from asym_plugins.integrations.torchreid.models import build_model
    from asym_plugins.integrations.torchreid.registration import register_dataset
    register_all()
    register_dataset('synthetic_infrared', synthetic_dataset_class(
        'infrared', name='synthetic_infrared', num_train_ids=4, num_test_ids=3,
        img_size=(64, 32)))
    dm = compat.torchreid_module('data').ImageDataManager(
        root=str(tmp_path), sources='synthetic_infrared', height=64, width=32,
        batch_size_train=8, batch_size_test=64, workers=0, use_gpu=False)
    dataset = dm.train_loader.dataset
    modalities = [dataset.extras[p]['modality'] for p, _, _, _ in dataset.train]
    assert set(modalities) == {0, 1}
    sampler = TorchreidCrossModalitySampler(dataset.train, modalities, batch_size=8,
                                            num_instances=2)  # K per modality
    batch = list(sampler)[:8]
    per_pid = {}
    for i in batch:
        per_pid.setdefault(dataset.train[i][1], []).append(modalities[i])
    assert len(per_pid) == 2 and all(sorted(m) == [0, 0, 1, 1] for m in per_pid.values())
    model = build_model('asym_small', dm.num_train_pids, loss='triplet', losses=dict(
        id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
        triplet=dict(type='WeightedRegularizedTriplet')))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    engine = AGWEngine(dm, model, optimizer, num_instances=2, use_gpu=False)
    data = next(iter(engine.train_loader))
    assert sorted(data['modality'].tolist()) == [0] * 4 + [1] * 4
    losses = engine.forward_backward(data)
    assert {'loss_id', 'loss_triplet'} <= set(losses)


def test_real_data_yaml_lists_every_missing_input_with_its_key(tmp_path, monkeypatch):
    torchreid_train = _tool()
    monkeypatch.chdir(tmp_path)                         # no data/ or checkpoints/ here
    with pytest.raises(FileNotFoundError) as err:
        torchreid_train.main([osp.join(ROOT, 'configs', 'torchreid', 'regdb_agw.yaml')])
    msg = str(err.value)
    assert "data.root = 'data/RegDB'" in msg and 'regdb' in msg
    assert "model.pretrained = 'checkpoints/resnet50_imagenet.pth'" in msg
