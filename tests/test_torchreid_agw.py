"""AGW inside torchreid: the agw_* factories equal the MMEngine AGWModel with the same weights,
the modality reaches the two-stream model through AGWEngine (training and test), and
tools/torchreid_train.py trains and evaluates configs/torchreid/agw.yaml (with and without
SIM) end to end on a tiny synthetic infrared world."""
import os.path as osp

import pytest
import torch
from conftest import require, torchreid_distance, torchreid_evaluate_rank  # noqa: E402
from mmengine.config import Config

require('torchreid')
require('yacs')

# the repository root and the one-epoch tiny-world runner of tools/torchreid_train.py
from test_torchreid_tool import ROOT, run_tiny  # noqa: E402


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _samples(modalities, labels):
    from asym_plugins.structures import ReIDDataSample
    return [ReIDDataSample(metainfo=dict(modality=m, pid=int(p), camid=0)).set_gt_label(p)
            for m, p in zip(modalities, labels)]


def test_agw_small_from_torchreid_equals_mmengine_agw_with_same_weights():
    from asym_plugins.integrations.torchreid import compat, register_all
    from asym_plugins.integrations.torchreid.models import (
        AGWTorchreidModel,
        from_mmengine_state_dict,
        mmengine_model_config,
        to_mmengine_state_dict,
        wrap_model,
    )
    from asym_plugins.registry import MODELS
    register_all()
    assert {'agw_resnet50', 'agw_small'} <= set(compat.model_factory())
    torch.manual_seed(0)
    tr_model = compat.torchreid_module('models').build_model(
        'agw_small', num_classes=6, loss='triplet', pretrained=False, use_gpu=False)
    assert isinstance(tr_model, AGWTorchreidModel) and tr_model.loss == 'triplet'
    # the MMEngine model of the synthetic infrared config (configs/sim/synthetic_ir.py)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'sim', 'synthetic_ir.py')).model
    cfg.head.num_classes = 6
    torch.manual_seed(1)  # other random weights, replaced by the torchreid model's
    mm_model = MODELS.build(cfg)
    assert type(mm_model.backbone) is type(tr_model.backbone)
    assert mmengine_model_config(tr_model)['backbone']['type'] == 'TwoStreamSmallReIDNet'
    missing, unexpected = mm_model.load_state_dict(to_mmengine_state_dict(
        tr_model.state_dict()), strict=False)
    assert not unexpected and all(k.startswith('data_preprocessor.') for k in missing)

    x = torch.randn(8, 3, 128, 64)
    names = ['visible', 'infrared'] * 4
    modality = torch.tensor([0, 1] * 4)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    # training outputs: logits and the triplet feature f_t (batch-statistics BN)
    tr_model.train()
    mm_model.train()
    logits, f_t = tr_model(x, modality=modality)
    mm_f_t, _, mm_logits = mm_model.extract_feat(x, modality=names)
    torch.testing.assert_close(logits, mm_logits)
    torch.testing.assert_close(f_t, mm_f_t)
    # the losses the engine trains with are the MMEngine model's, routed by the samples
    torch.manual_seed(2)
    losses = tr_model.asym_model.loss(x, _samples(names, labels))
    mm_losses = mm_model(x, _samples(names, labels), mode='loss')
    assert set(losses) == {'loss_id', 'loss_triplet', 'acc_id'}
    for key in losses:
        torch.testing.assert_close(losses[key], mm_losses[key])
    # and back (BN statistics included), into a fresh torchreid model (strict)
    tr_back = wrap_model(MODELS.build(cfg), 6, loss='triplet')
    tr_back.load_state_dict(from_mmengine_state_dict(mm_model.state_dict()))
    # test features (running-statistics BN, after the BNNeck)
    tr_model.eval()
    mm_model.eval()
    tr_back.eval()
    with torch.no_grad():
        feats = tr_model(x, modality=modality)
        torch.testing.assert_close(feats, mm_model(x, _samples(names, labels), mode='tensor'))
        torch.testing.assert_close(feats, tr_back(x, modality=modality))
        swapped = tr_model(x, modality=1 - modality)
    assert feats.shape == (8, 256)
    assert not torch.allclose(feats, swapped)  # the modality reaches the stems
    with pytest.raises(ValueError, match='modality'):
        tr_model(x[:2])  # no modality, no default_modality


def test_agw_resnet50_factory_layout_and_local_pretrained(tmp_path):
    import torchvision

    from asym_plugins.integrations.torchreid.models import build_model
    weights = tmp_path / 'resnet50.pth'
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), weights)
    model = build_model('agw_resnet50', num_classes=5, pretrained=str(weights))
    bb = model.backbone
    assert type(bb).__name__ == 'TwoStreamResNet' and bb.non_local_counts == (0, 2, 3, 0)
    assert bb.layer4[0].conv2.stride == (1, 1)
    assert model.neck.pool.p.item() == 3.0
    ref = torch.load(weights)['conv1.weight']
    for stem in bb.stems:  # the single-stream stem copied into both
        torch.testing.assert_close(stem.conv1.weight, ref)
    with pytest.raises(FileNotFoundError):
        build_model('agw_resnet50', num_classes=5, pretrained=str(tmp_path / 'missing.pth'))
    with pytest.raises(ValueError, match='no published ImageNet weights'):
        build_model('agw_small', num_classes=5, pretrained=True)


def test_yamls_load_and_build():
    from asym_plugins.integrations.torchreid.config import load_config, model_kwargs
    cfg = load_config(osp.join(ROOT, 'configs', 'torchreid', 'agw.yaml'))
    assert (cfg.model.name, cfg.asym.method, cfg.asym.rerank.type) == ('agw_small', 'agw', 'sim')
    assert cfg.train.batch_size % (2 * cfg.sampler.num_instances) == 0  # P x (K + K)
    real = load_config(osp.join(ROOT, 'configs', 'torchreid', 'sysu_mm01_agw.yaml'))
    assert real.model.name == 'agw_resnet50' and real.data.sources == ['sysu_mm01']
    assert isinstance(real.model.pretrained, str) and not real.model.pretrained.startswith(
        ('http:', 'https:'))  # a local path
    assert model_kwargs(real) == {}
    # a bool in the yaml, a path on the command line (and back)
    path = load_config(osp.join(ROOT, 'configs', 'torchreid', 'agw.yaml'),
                       ['model.pretrained', '/weights/r50.pth'])
    assert path.model.pretrained == '/weights/r50.pth'
    assert load_config(osp.join(ROOT, 'configs', 'torchreid', 'sysu_mm01_agw.yaml'),
                       ['model.pretrained', 'False']).model.pretrained is False


def test_tool_trains_agw_yaml_and_reports_with_and_without_sim(tmp_path, monkeypatch):
    from asym_plugins.integrations.torchreid import engines
    splits = []  # every (features, pids, camids) the engine extracts: query, gallery, ...
    extract = engines.AsymEngine.extract_split

    def recording(self, loader):
        out = extract(self, loader)
        splits.append(out)
        return out

    monkeypatch.setattr(engines.AsymEngine, 'extract_split', recording)
    summary = run_tiny(tmp_path, 'agw', 8, 'train.batch_size', '16',
                       'sampler.num_instances', '2')
    assert summary['model'] == 'agw_small' and summary['method'] == 'agw'
    assert set(summary['results']) == {'agw', 'agw+sim'}
    assert summary['results']['agw']['reranker'] is None
    assert 'SIMReranker' in summary['results']['agw+sim']['reranker']
    # the plain row from the engine's own features through torchreid's distance (squared
    # Euclidean: the ranking of the yaml's l2) and torchreid's evaluator
    # (the last extraction: the SIM row's, from the same trained model as the plain row's)
    (qf, q_pids, q_cams), (gf, g_pids, g_cams) = splits[-2], splits[-1]
    qf, gf = torch.nn.functional.normalize(qf, dim=1), torch.nn.functional.normalize(gf, dim=1)
    cmc, mAP = torchreid_evaluate_rank(torchreid_distance(qf, gf), q_pids, g_pids, q_cams,
                                       g_cams, max_rank=5)
    assert summary['results']['agw']['rank1'] == pytest.approx(100 * cmc[0], abs=1e-4)
    assert summary['results']['agw']['mAP'] == pytest.approx(100 * mAP, abs=1e-4)
    assert (tmp_path / 'log' / 'model' / 'model.pth.tar-1').is_file()
