"""register_all(): idempotent, both torchreid layouts (a fake flat ``torchreid.models``), the
table keyed by importability, torch >= 2.6 checkpoint loading and the evaluation fixes."""
import sys
import types

import numpy as np
import pytest
import torch

from conftest import require  # noqa: E402

require('torchreid')

from asym_plugins.integrations.torchreid import compat  # noqa: E402
from asym_plugins.integrations.torchreid.registration import (  # noqa: E402
    METHODS, MethodEntry, RegistrationError, method_available, register_all, register_model)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def test_register_all_is_idempotent():
    first = register_all()
    assert compat.layout() == 'reid'
    factory = compat.model_factory()
    datasets = compat.image_dataset_registry()
    for name in ('asym_resnet50', 'asym_resnet50_ibn_a', 'asym_small'):
        assert name in factory
    for name in ('asym_market1501', 'occluded_duke', 'occluded_reid', 'partial_reid',
                 'partial_ilids', 'synthetic_occluded', 'synthetic_partial'):
        assert name in datasets
    snapshot_models, snapshot_datasets = dict(factory), dict(datasets)
    second = register_all()
    assert second['models'] == [] and second['datasets'] == [] and second['losses'] == []
    assert dict(compat.model_factory()) == snapshot_models
    assert dict(compat.image_dataset_registry()) == snapshot_datasets
    assert set(first['methods']) == {e.name for e in METHODS}
    # a variant registered explicitly (other synthetic sizes) survives another register_all()
    from asym_plugins.integrations.torchreid.datasets import synthetic_dataset_class
    from asym_plugins.integrations.torchreid.registration import register_dataset
    variant = synthetic_dataset_class('partial', name='synthetic_partial', num_train_ids=3)
    assert register_dataset('synthetic_partial', variant)
    register_all()
    assert compat.image_dataset_registry()['synthetic_partial'] is variant
    # torchreid's own names are never overwritten
    with pytest.raises(RegistrationError, match='resnet50'):
        register_model('resnet50', factory['asym_small'])
    # torchreid's registry itself raises on a second registration; ours did not call it twice
    with pytest.raises(ValueError):
        compat.torchreid_module('data').register_image_dataset('asym_market1501',
                                                               datasets['asym_market1501'])


def test_build_model_through_torchreid_and_losses_exported():
    register_all()
    models = compat.torchreid_module('models')
    model = models.build_model('asym_small', num_classes=5, loss='triplet', pretrained=False)
    logits, feats = model.train()(torch.rand(4, 3, 64, 32))
    assert logits.shape == (4, 5) and feats.shape == (4, 256)
    assert model.eval()(torch.rand(2, 3, 64, 32)).shape == (2, 256)
    assert model.loss == 'triplet'
    losses = compat.torchreid_module('losses')
    from asym_plugins.models.losses import CrossEntropyLabelSmooth, TripletLoss
    assert losses.CrossEntropyLabelSmooth is CrossEntropyLabelSmooth
    assert losses.AsymTripletLoss is TripletLoss
    assert losses.TripletLoss is not TripletLoss  # torchreid's own stays


def test_table_skips_what_does_not_import(monkeypatch):
    from asym_plugins.integrations.torchreid import registration
    ghost = MethodEntry('ghost', requires=('asym_plugins.methods.no_such_method:Model',),
                        models=('ghost_small',))
    monkeypatch.setattr(registration, 'METHODS', registration.METHODS + (ghost,))
    ok, reason = method_available(ghost)
    assert not ok and 'no_such_method' in reason
    report = registration.register_all()
    assert report['methods']['ghost'].startswith('missing')
    assert 'ghost_small' not in compat.model_factory()


def _fake_flat_torchreid():
    """A minimal source-install layout: torchreid.models / torchreid.data(.datasets) /
    torchreid.losses, no torchreid.reid."""
    pkg = types.ModuleType('torchreid')
    pkg.__path__ = []
    models = types.ModuleType('torchreid.models')
    table = {'resnet50': lambda **kw: 'their resnet50'}
    vars(models)['__model_factory'] = table

    def build_model(name, num_classes, loss='softmax', pretrained=True, use_gpu=True):
        return table[name](num_classes=num_classes, loss=loss, pretrained=pretrained,
                           use_gpu=use_gpu)

    models.build_model = build_model
    data = types.ModuleType('torchreid.data')
    data.__path__ = []

    class ImageDataset:
        def __init__(self, train, query, gallery, transform=None, mode='train', **kwargs):
            self.train, self.query, self.gallery = train, query, gallery
            self.transform, self.mode = transform, mode
            self.data = dict(train=train, query=query, gallery=gallery)[mode]

    data.ImageDataset = ImageDataset
    datasets = types.ModuleType('torchreid.data.datasets')
    vars(datasets)['__image_datasets'] = {'market1501': object}
    data.datasets = datasets
    losses = types.ModuleType('torchreid.losses')
    pkg.models, pkg.data, pkg.losses = models, data, losses
    return {'torchreid': pkg, 'torchreid.models': models, 'torchreid.data': data,
            'torchreid.data.datasets': datasets, 'torchreid.losses': losses}


def test_flat_layout_with_fake_torchreid_models(monkeypatch):
    real_factory = compat.model_factory()
    fake = _fake_flat_torchreid()
    for name in [m for m in sys.modules if m == 'torchreid' or m.startswith('torchreid.')]:
        monkeypatch.delitem(sys.modules, name)
    for name, module in fake.items():
        monkeypatch.setitem(sys.modules, name, module)
    assert compat.layout() == 'flat'
    assert compat.model_factory() is vars(fake['torchreid.models'])['__model_factory']
    report = register_all(fix_torchreid=False)
    assert report['layout'] == 'flat'
    assert 'asym_small' in report['models']
    assert register_all(fix_torchreid=False)['models'] == []  # idempotent here too
    model = fake['torchreid.models'].build_model('asym_small', num_classes=3, pretrained=False)
    assert model.eval()(torch.rand(1, 3, 64, 32)).shape == (1, 256)
    registry = vars(fake['torchreid.data.datasets'])['__image_datasets']
    cls = registry['occluded_duke']
    assert issubclass(cls, fake['torchreid.data'].ImageDataset)
    assert registry['market1501'] is object  # theirs untouched
    from asym_plugins.models.losses import CrossEntropyLabelSmooth
    assert fake['torchreid.losses'].CrossEntropyLabelSmooth is CrossEntropyLabelSmooth
    assert real_factory is not compat.model_factory()


def test_checkpoint_loader_reads_torchreid_checkpoint_with_numpy_scalar(tmp_path):
    from asym_plugins.integrations.torchreid import checkpoint
    utils = compat.torchreid_module('utils')
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2)
    state = dict(state_dict=model.state_dict(), epoch=3, rank1=np.float64(0.625),
                 optimizer=opt.state_dict(), scheduler=sched.state_dict())
    utils.save_checkpoint(state, str(tmp_path))  # torchreid writes it
    path = str(tmp_path / 'model.pth.tar-3')
    ckpt = checkpoint.load_checkpoint(path)
    assert ckpt['rank1'] == pytest.approx(0.625) and isinstance(ckpt['rank1'], np.generic)
    assert torch.equal(ckpt['state_dict']['weight'], model.weight)
    # installed into torchreid: its resume_from_checkpoint works again
    checkpoint.install()
    assert checkpoint.is_installed()
    other = torch.nn.Linear(3, 2)
    assert utils.resume_from_checkpoint(path, other) == 3
    assert torch.equal(other.weight, model.weight)
    # anything beyond tensors / containers / numpy is still refused, with the way out named
    torch.save({'obj': types.SimpleNamespace(a=1)}, str(tmp_path / 'unsafe.pth'))
    with pytest.raises(Exception, match='weights_only=False'):
        checkpoint.load_checkpoint(str(tmp_path / 'unsafe.pth'))


def test_evaluation_matches_torchreid_python_metric_and_cuhk03_runs():
    from asym_plugins.integrations.torchreid import evaluation
    rank_mod = compat.torchreid_module('metrics.rank')
    rng = np.random.default_rng(0)
    q_pids, g_pids = rng.integers(0, 10, 30), rng.integers(0, 10, 120)
    q_cams, g_cams = rng.integers(0, 3, 30), rng.integers(0, 3, 120)
    dist = rng.random((30, 120)).astype(np.float32)
    cmc, mAP = evaluation.evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    ref_cmc, ref_mAP = rank_mod.evaluate_py(dist, q_pids, g_pids, q_cams, g_cams, 20, False)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-6)
    assert mAP == pytest.approx(ref_mAP, abs=1e-6)
    # CUHK03 single-gallery-shot: perfect ranking -> R1 = 1, no np.bool anywhere
    perfect = (q_pids[:, None] != g_pids[None, :]).astype(np.float32)
    cmc3, mAP3 = evaluation.evaluate_rank(perfect, q_pids, g_pids, q_cams, g_cams,
                                          use_metric_cuhk03=True)
    assert cmc3[0] == pytest.approx(1.0) and mAP3 == pytest.approx(1.0)
    evaluation.install()
    assert compat.torchreid_module('metrics').evaluate_rank is evaluation.evaluate_rank


def test_pretrained_weights_are_local_only(tmp_path, monkeypatch):
    from asym_plugins.integrations.torchreid import models
    from asym_plugins.models import SmallReIDNet
    monkeypatch.setenv('ASYM_PRETRAINED_DIR', str(tmp_path / 'none'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    with pytest.raises(FileNotFoundError, match='nothing is downloaded'):
        models.asym_resnet50(num_classes=3)  # torchreid's default pretrained=True
    with pytest.raises(ValueError, match='no published ImageNet weights'):
        models.asym_small(num_classes=3, pretrained=True)
    with pytest.raises(FileNotFoundError, match='not a local'):
        models.asym_small(num_classes=3, pretrained='https://example.org/w.pth')
    source = SmallReIDNet(out_channels=256)
    path = str(tmp_path / 'small.pth')
    torch.save(source.state_dict(), path)
    model = models.asym_small(num_classes=3, pretrained=path)
    assert torch.equal(model.backbone.stem[0].weight, source.stem[0].weight)
    # the torchreid model and the MMEngine model share their state-dict keys
    from asym_plugins.registry import MODELS
    mm = MODELS.build(models.mmengine_model_config(model))
    mm.load_state_dict(models.to_mmengine_state_dict(
        {'module.' + k: v for k, v in model.state_dict().items()}), strict=True)
    model.load_state_dict(models.from_mmengine_state_dict(mm.state_dict()), strict=True)
