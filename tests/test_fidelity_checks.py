"""Issue 18: loss terms that cannot act are refused at build time or warned about once per run;
config keys that nothing reads are refused (docs/mcma.md, docs/mos.md)."""
import logging

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from asym_plugins.engine.cli import ConfigError
from asym_plugins.engine.launch import validate_cfg
from asym_plugins.methods.batch_check import identity_batch_shape
from asym_plugins.methods.mcma import HFTextEncoder, MCMAModel
from asym_plugins.methods.mcma.text_encoder import build_text_encoder
from asym_plugins.structures import ReIDDataSample

TINY_VIT = dict(type='ReIDViT', arch=dict(embed_dims=32, depth=1, num_heads=2, mlp_ratio=2.0),
                img_size=(64, 32), patch_size=16, stride=16)


class _Catch(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_log():
    catch = _Catch()
    logger = MMLogger.get_current_instance()
    logger.addHandler(catch)
    yield catch.messages
    logger.removeHandler(catch)


@pytest.fixture(scope='module')
def minilm1():
    return HFTextEncoder(num_layers=1)


def _batch(pids, same_image=False):
    inputs, samples = [], []
    g = torch.Generator().manual_seed(0)
    for i, pid in enumerate(pids):
        inputs.append(torch.randint(0, 256, (3, 64, 32), generator=g, dtype=torch.uint8))
        path = f'{pid}.jpg' if same_image else f'{pid}_{i}.jpg'
        s = ReIDDataSample(metainfo=dict(pid=pid, img_path=path,
                                         captions=[f'a person number {pid}']))
        samples.append(s.set_gt_label(pid))
    return dict(inputs=inputs, data_samples=samples)


def _model(minilm, **kw):
    torch.manual_seed(0)
    return MCMAModel(image_encoder=dict(TINY_VIT), text_encoder=minilm, embed_dims=16,
                     num_classes=4, decoder=dict(depth=1, num_heads=2, mlp_ratio=2.0), **kw)


# ------------------------------------------------------------------ warnings once per run
def test_mcma_cross_recon_without_partner_warns_once_and_is_zero(minilm1, warnings_log):
    model = _model(minilm1, losses=dict(bisim=None))
    for _ in range(2):   # every identity once: no cross-instance pair in the batch
        out = model(**model.data_preprocessor(_batch([0, 1, 2, 3]), True), mode='loss')
        assert float(out['loss_cross_recon']) == 0.0 and float(out['cross_pairs']) == 0.0
    hits = [m for m in warnings_log if 'cross_recon' in m]
    assert len(hits) == 1, warnings_log
    assert 'num_instances >= 2' in hits[0]
    # the same image twice is not a second image either
    model = _model(minilm1, losses=dict(bisim=None))
    out = model(**model.data_preprocessor(_batch([0, 0, 1, 1], same_image=True), True),
                mode='loss')
    assert float(out['loss_cross_recon']) == 0.0
    assert len([m for m in warnings_log if 'cross_recon' in m]) == 2   # a new model, a new run


def test_mcma_with_pairs_and_two_identities_does_not_warn(minilm1, warnings_log):
    model = _model(minilm1)
    out = model(**model.data_preprocessor(_batch([0, 0, 1, 1]), True), mode='loss')
    assert float(out['loss_cross_recon']) > 0 and float(out['cross_pairs']) == 1.0
    assert float(out['loss_bisim']) > 0
    assert not [m for m in warnings_log if 'MCMAModel' in m], warnings_log


def test_mcma_bisim_with_one_identity_warns_once(minilm1, warnings_log):
    model = _model(minilm1, losses=dict(self_recon=None, cross_recon=None))
    for _ in range(2):
        out = model(**model.data_preprocessor(_batch([2, 2]), True), mode='loss')
        assert float(out['loss_bisim']) == 0.0
    hits = [m for m in warnings_log if 'bisim' in m]
    assert len(hits) == 1 and '>= 2 identities' in hits[0]


# ------------------------------------------------------------------ build-time sampler check
def _cfg(path, **sampler):
    cfg = Config.fromfile(path)
    cfg.train_dataloader.sampler.update(sampler)
    return cfg


def test_identity_batch_shape_by_hand():
    assert identity_batch_shape(dict(batch_size=32, sampler=dict(
        type='IdentitySampler', batch_size=32, num_instances=4))) == (8, 4)
    assert identity_batch_shape(dict(sampler=dict(
        type='CrossModalityIdentitySampler', batch_size=32, num_instances=4))) == (4, 8)
    assert identity_batch_shape(dict(sampler=dict(type='DefaultSampler'))) is None


@pytest.mark.parametrize('path', ['configs/mcma/synthetic_text.py', 'configs/mcma/cuhk_pedes.py',
                                  'configs/mos/synthetic_occluded.py',
                                  'configs/mos/occluded_duke.py'])
def test_shipped_configs_pass_the_sampler_check(path):
    validate_cfg(Config.fromfile(path))


def test_mcma_sampler_check_names_the_keys():
    cfg = _cfg('configs/mcma/synthetic_text.py', num_instances=1)
    with pytest.raises(ConfigError, match=r'num_instances.*cross_recon.*K >= 2'):
        validate_cfg(cfg)
    cfg.model.losses['cross_recon'] = None          # the ablation without it is fine
    validate_cfg(cfg)
    bs = cfg.train_dataloader.batch_size            # one identity per batch: no bisimulation
    cfg = _cfg('configs/mcma/synthetic_text.py', num_instances=bs)
    with pytest.raises(ConfigError, match=r'P=1.*model.losses.bisim'):
        validate_cfg(cfg)
    cfg = _cfg('configs/mcma/synthetic_text.py', type='DefaultSampler')
    with pytest.raises(ConfigError, match='random batches'):
        validate_cfg(cfg)


def test_mos_sampler_check_names_the_keys():
    with pytest.raises(ConfigError, match=r'K=1.*positive co-occurrence prior'):
        validate_cfg(_cfg('configs/mos/synthetic_occluded.py', num_instances=1))
    with pytest.raises(ConfigError, match=r'P=1.*triplet'):
        validate_cfg(_cfg('configs/mos/synthetic_occluded.py', num_instances=32))


# ------------------------------------------------------------------ keys read or refused
def test_text_encoder_pooling_and_type_are_refused(minilm1):
    with pytest.raises(ValueError, match=r'text_encoder.pooling.*model.text_pooling'):
        build_text_encoder(dict(pooling='mean', num_layers=1))
    with pytest.raises(ValueError, match=r"text_encoder.type='CLIPText'.*HFTextEncoder"):
        build_text_encoder(dict(type='CLIPText', num_layers=1))
    with pytest.raises(ValueError, match=r"unknown keys \['num_layer'\]"):
        build_text_encoder(dict(num_layer=1))
    # refused before the image encoder is built
    with pytest.raises(ValueError, match='text_encoder.pooling'):
        MCMAModel(image_encoder=dict(TINY_VIT), text_encoder=dict(pooling='cls'))
    enc = build_text_encoder(dict(type='HFTextEncoder', num_layers=1, max_length=8))
    assert len(enc.model.encoder.layer) == 1


def test_mos_metric_refuses_metric():
    from asym_plugins.methods.mos import MoSMetric
    with pytest.raises(ValueError, match=r"metric='cosine' would have no effect.*1 - J"):
        MoSMetric(metric='cosine')
    # without it, the distance is 1 - J: a hand pair with J = 1/3 (min-sum / max-sum)
    m = MoSMetric()
    d = m.compute_distmat(torch.tensor([[1., 0., 1.]]), torch.tensor([[1., 1., 0.]]))
    assert torch.allclose(d, torch.tensor([[1 - 1 / 3]]))


# ------------------------------------------------------------------ RegDB mode
def test_regdb_mode_refused_on_train_and_warned_on_test(tmp_path, warnings_log):
    from asym_plugins.data.datasets import regdb
    from asym_plugins.data.datasets.regdb import RegDB
    with pytest.raises(ValueError, match=r"no effect on split='train'.*train_dataloader"):
        RegDB(data_root=str(tmp_path), split='train', mode='visible_to_thermal')
    regdb._WARNED.clear()
    for _ in range(2):
        with pytest.raises(Exception):          # no data: the warning comes first
            RegDB(data_root=str(tmp_path / 'none'), split='query', mode='thermal_to_visible')
    hits = [m for m in warnings_log if 'RegDBMetric scores both directions' in m]
    assert len(hits) == 1


def test_regdb_metric_ignores_which_file_is_the_query():
    """Under RegDBMetric the two modes give the same numbers (what the warning says)."""
    from asym_plugins.evaluation.metrics.cross_modality_metric import RegDBMetric
    g = torch.Generator().manual_seed(0)
    pids = torch.arange(6).repeat_interleave(2)
    vis = [dict(feature=torch.randn(8, generator=g) + p, pid=int(p), camid=0,
                modality='visible', img_path=f'v{i}') for i, p in enumerate(pids)]
    ir = [dict(feature=torch.randn(8, generator=g) + p, pid=int(p), camid=1,
               modality='infrared', img_path=f't{i}') for i, p in enumerate(pids)]
    v2t = RegDBMetric(metric='euclidean').compute_metrics(vis + ir)   # query = visible file
    t2v = RegDBMetric(metric='euclidean').compute_metrics(ir + vis)   # query = thermal file
    assert v2t == pytest.approx(t2v)
    assert {'v2t_mAP', 't2v_mAP'} <= set(v2t) and v2t['v2t_mAP'] != v2t['t2v_mAP']


def test_sap_sampler_check_names_the_keys():
    validate_cfg(Config.fromfile('configs/sap/synthetic_occluded.py'))
    validate_cfg(Config.fromfile('configs/sap/occluded_duke.py'))
    with pytest.raises(ConfigError, match=r'SAPModel.*K=1.*triplet'):
        validate_cfg(_cfg('configs/sap/synthetic_occluded.py', num_instances=1))
    cfg = _cfg('configs/sap/synthetic_occluded.py', num_instances=1)
    cfg.model.losses = dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1))
    validate_cfg(cfg)                                # ID loss alone: any batch will do
