"""register_all(): idempotent, both torchreid layouts (a fake flat ``torchreid.models``), the
one table keyed by importability (only ImportError skips a method), no import cycle, deprecated
names, torch >= 2.6 checkpoint loading and the evaluation fixes."""
import ast
import os.path as osp
import sys
import types
import warnings

import numpy as np
import pytest
import torch
from conftest import require  # noqa: E402

require('torchreid')

from asym_plugins.integrations.torchreid import compat  # noqa: E402
from asym_plugins.integrations.torchreid.registration import (  # noqa: E402
    METHODS,
    MethodEntry,
    RegistrationError,
    method_available,
    register_all,
    register_model,
)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def test_register_all_is_idempotent():
    first = register_all()
    assert compat.layout() == 'reid'
    factory = compat.model_factory()
    datasets = compat.image_dataset_registry()
    for name in ('bot_resnet50', 'bot_resnet50_ibn_a', 'bot_small', 'asym_resnet50',
                 'asym_resnet50_ibn_a', 'asym_small'):  # old names: deprecated aliases
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
        register_model('resnet50', factory['bot_small'])
    # torchreid's registry itself raises on a second registration; ours did not call it twice
    with pytest.raises(ValueError):
        compat.torchreid_module('data').register_image_dataset('asym_market1501',
                                                               datasets['asym_market1501'])


def test_build_model_through_torchreid_and_losses_exported():
    register_all()
    models = compat.torchreid_module('models')
    model = models.build_model('bot_small', num_classes=5, loss='triplet', pretrained=False)
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


def test_only_import_error_makes_a_method_unavailable(monkeypatch):
    """A module that imports but lacks the attribute (or fails otherwise) is a bug: it raises
    instead of silently dropping the method."""
    from asym_plugins.integrations.torchreid import registration
    broken = MethodEntry('broken', requires=('asym_plugins.models:NoSuchModel', ))
    with pytest.raises(AttributeError, match='NoSuchModel'):
        method_available(broken)
    monkeypatch.setattr(registration, 'METHODS', registration.METHODS + (broken,))
    with pytest.raises(AttributeError, match='NoSuchModel'):
        registration.register_all()


def test_one_table_drives_factories_engines_engine_kwargs_and_yacs_keys():
    from asym_plugins.integrations.torchreid import config, engines, models, registration
    cfg = config.get_default_config()
    for entry in METHODS:
        for name in entry.models:
            assert models.FACTORIES[name].__name__ == name
        if entry.engine is not None:
            assert engines.engine_for(entry.name) is getattr(engines, entry.engine)
            assert entry.name in registration.METHOD_NAMES
        # the asym.<method> yacs section has exactly the entry's keys and defaults
        if entry.config:
            section = cfg.asym[entry.name]
            assert set(section) == set(entry.config)
            for key, value in entry.config.items():
                if value != registration.FREE_KEYS:
                    assert section[key] == value
        else:
            assert entry.name not in cfg.asym
    assert set(models.FACTORIES) == {n for e in METHODS for n in e.models}
    assert engines.ENGINES == {e.name: getattr(engines, e.engine) for e in METHODS if e.engine}
    # engine kwargs come from the entry: a MoS yaml value reaches MoSEngine's argument
    mos = config.load_yacs_config(osp.join(_ROOT, 'configs', 'torchreid', 'mos.yaml'),
                                  ['asym.mos.cp_lambda', '0.25', 'asym.mos.cp_topk', '0'])
    assert config.engine_kwargs(mos) == dict(clip_grad=None, cp_lambda=0.25, cp_eps=1.0,
                                             cp_topk=None, top_r=mos.asym.mos.top_r)
    sap = config.load_yacs_config(osp.join(_ROOT, 'configs', 'torchreid', 'sap.yaml'),
                                  ['asym.sap.teacher', 'RuleTeacher'])
    assert config.engine_kwargs(sap)['teacher'] == dict(type='RuleTeacher')
    with pytest.raises(ValueError, match='asym.method'):
        config.load_yacs_config(osp.join(_ROOT, 'configs', 'torchreid', 'mos.yaml'),
                                ['asym.method', 'k_reciprocal'])  # a re-ranker, no engine


_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _module_level_imports(path):
    """Intra-package modules imported at module level, and whether any other function body
    imports (only module ``__getattr__`` may, for deprecated names)."""
    tree = ast.parse(open(path, encoding='utf-8').read())
    deps, late = set(), []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            deps.update([node.module] if node.module else [a.name for a in node.names])
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                and node.name != '__getattr__':
            late += [f'{node.name}:{n.lineno}' for n in ast.walk(node)
                     if isinstance(n, (ast.Import, ast.ImportFrom))]
    return deps, late


def test_no_import_cycle_and_imports_at_module_top():
    folder = osp.join(_ROOT, 'asym_plugins', 'integrations', 'torchreid')
    names = ['checkpoint', 'compat', 'config', 'datasets', 'engines', 'evaluation', 'models',
             'registration']
    graph = {}
    for name in names:
        deps, late = _module_level_imports(osp.join(folder, name + '.py'))
        assert not late, f'{name}.py imports inside functions: {late}'
        graph[name] = deps & set(names)
    # the reported cycle is gone: checkpoint needs neither models nor registration
    assert graph['checkpoint'] == {'compat'}
    assert 'registration' not in graph['models']
    seen, done = set(), set()

    def visit(node, path):
        assert node not in seen or node in done, f'import cycle: {path + [node]}'
        if node in done:
            return
        seen.add(node)
        for dep in graph[node]:
            visit(dep, path + [node])
        done.add(node)

    for name in names:
        visit(name, [])


def test_deprecated_names_warn_and_are_the_new_ones():
    from asym_plugins.integrations.torchreid import (
        config,
        datasets,
        engines,
        evaluation,
        models,
        registration,
    )
    cases = [(registration, 'build_reranker', registration.build_torchreid_reranker),
             (evaluation, 'evaluate_rank', evaluation.torchreid_evaluate_rank),
             (config, 'load_config', config.load_yacs_config),
             (models, 'build_model', registration.build_torchreid_model),
             (datasets, 'read_rgb', datasets.open_rgb_image),
             (engines, 'AsymEngine', engines.ReIDEngine)]
    for module, old, new in cases:
        with pytest.warns(DeprecationWarning, match=old):
            assert getattr(module, old) is new
    assert issubclass(engines.BoTEngine, engines.ReIDEngine)
    # the old baseline factory names build the same model, with a warning
    with pytest.warns(DeprecationWarning, match='bot_small'):
        torch.manual_seed(0)
        old = models.asym_small(num_classes=3, pretrained=False)
    torch.manual_seed(0)
    new = models.bot_small(num_classes=3, pretrained=False)
    assert old.state_dict().keys() == new.state_dict().keys()
    assert all(torch.equal(old.state_dict()[k], v) for k, v in new.state_dict().items())
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        models.bot_small(num_classes=3, pretrained=False)  # the new name does not warn


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
    assert 'bot_small' in report['models']
    assert register_all(fix_torchreid=False)['models'] == []  # idempotent here too
    model = fake['torchreid.models'].build_model('bot_small', num_classes=3, pretrained=False)
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
    cmc, mAP = evaluation.torchreid_evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    ref_cmc, ref_mAP = rank_mod.evaluate_py(dist, q_pids, g_pids, q_cams, g_cams, 20, False)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-6)
    assert mAP == pytest.approx(ref_mAP, abs=1e-6)
    # CUHK03 single-gallery-shot: perfect ranking -> R1 = 1, no np.bool anywhere
    perfect = (q_pids[:, None] != g_pids[None, :]).astype(np.float32)
    cmc3, mAP3 = evaluation.torchreid_evaluate_rank(perfect, q_pids, g_pids, q_cams, g_cams,
                                                    use_metric_cuhk03=True)
    assert cmc3[0] == pytest.approx(1.0) and mAP3 == pytest.approx(1.0)
    evaluation.install()
    assert compat.torchreid_module('metrics').evaluate_rank is evaluation.torchreid_evaluate_rank


def test_pretrained_weights_are_local_only(tmp_path, monkeypatch):
    from asym_plugins.integrations.torchreid import models
    from asym_plugins.models import SmallReIDNet
    monkeypatch.setenv('ASYM_PRETRAINED_DIR', str(tmp_path / 'none'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    with pytest.raises(FileNotFoundError, match='nothing is downloaded'):
        models.bot_resnet50(num_classes=3)  # torchreid's default pretrained=True
    with pytest.raises(ValueError, match='no published ImageNet weights'):
        models.bot_small(num_classes=3, pretrained=True)
    with pytest.raises(FileNotFoundError, match='not a local'):
        models.bot_small(num_classes=3, pretrained='https://example.org/w.pth')
    source = SmallReIDNet(out_channels=256)
    path = str(tmp_path / 'small.pth')
    torch.save(source.state_dict(), path)
    model = models.bot_small(num_classes=3, pretrained=path)
    assert torch.equal(model.backbone.stem[0].weight, source.stem[0].weight)
    # the torchreid model and the MMEngine model share their state-dict keys
    from asym_plugins.registry import MODELS
    mm = MODELS.build(models.mmengine_model_config(model))
    mm.load_state_dict(models.to_mmengine_state_dict(
        {'module.' + k: v for k, v in model.state_dict().items()}), strict=True)
    model.load_state_dict(models.from_mmengine_state_dict(mm.state_dict()), strict=True)


class _InfoDataset:
    """What the MMEngine sampler reads: label and modality per sample."""

    def __init__(self, pids, mods):
        self.infos = [dict(label=p, modality=('visible', 'infrared')[m])
                      for p, m in zip(pids, mods)]

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, i):
        return self.infos[i]


def test_num_instances_is_k_per_identity_and_modality_in_both_samplers():
    from asym_plugins.data.samplers import CrossModalityIdentitySampler
    from asym_plugins.integrations.torchreid import config, engines
    pids = [i // 10 for i in range(80)]                 # 8 identities x (5 visible + 5 infrared)
    mods = [int(i % 10 >= 5) for i in range(80)]
    data = [(f'{i}.jpg', p, 0, 0) for i, p in enumerate(pids)]
    k, batch = 3, 12                                    # P = 2 identities x (3 + 3)

    def composition(order):
        out = []
        for b in range(0, len(order), batch):
            per_pid = {}
            for i in order[b:b + batch]:
                per_pid.setdefault(pids[i], []).append(mods[i])
            out.append(sorted((len(v), sum(v)) for v in per_pid.values()))
        return out

    tr = list(engines.TorchreidCrossModalitySampler(data, mods, batch, k))
    mm = list(CrossModalityIdentitySampler(_InfoDataset(pids, mods), batch, k, seed=0))
    for order in (tr, mm):  # every batch: 2 identities, each 2K images of which K infrared
        assert order and all(c == [(2 * k, k)] * 2 for c in composition(order))
    # the old torchreid name took K in total: 2K there is exactly K here, same batches
    with pytest.warns(DeprecationWarning, match='K per modality'):
        old = engines.CrossModalityIdentitySampler(data, mods, batch, 2 * k)
    assert list(old) == tr
    # the yamls: sampler.num_instances is K per modality; the old asym.agw.num_instances (K in
    # total) still gives the same batches, with a warning
    path = osp.join(_ROOT, 'configs', 'torchreid', 'agw.yaml')
    new = config.load_yacs_config(path)
    assert config.engine_kwargs(new)['num_instances'] == new.sampler.num_instances == 4
    with pytest.warns(DeprecationWarning, match='sampler.num_instances'):
        legacy = config.engine_kwargs(config.load_yacs_config(
            path, ['asym.agw.num_instances', '8', 'sampler.num_instances', '2']))
    assert legacy['num_instances'] == 4


def test_engines_undo_the_transforms_own_normalize():
    """SAP's batch teachers and AGW's grey images see the pixels torchvision's Normalize (found
    by type, not by class name) was applied to."""
    from PIL import Image
    from torchvision.transforms import Compose, Normalize, ToTensor

    from asym_plugins.integrations.torchreid.engines import _denormalize_to_uint8
    pixels = np.random.default_rng(0).integers(0, 256, (2, 8, 4, 3), dtype=np.uint8)
    transform = Compose([ToTensor(), Normalize([0.1, 0.2, 0.3], [0.5, 0.6, 0.7])])
    batch = torch.stack([transform(Image.fromarray(p)) for p in pixels])
    back = _denormalize_to_uint8(batch, transform)
    assert torch.equal(back, torch.from_numpy(pixels).permute(0, 3, 1, 2))
