"""Backbones, necks, pretrained loading, data preprocessor and the BoT baseline (CPU, tiny)."""
import pytest
import torch
import torch.nn as nn
import torchvision
from mmengine.optim import OptimWrapper

from asym_plugins.models import (
    BNNeck,
    GeneralizedMeanPooling,
    GlobalAvgPool,
    GlobalMaxPool,
    GlobalPooling,
    ReIDBaseline,
    ReIDDataPreprocessor,
    ReIDResNet,
    ResNetIBN,
    SmallReIDNet,
)
from asym_plugins.registry import MODELS
from asym_plugins.structures import ReIDDataSample


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny CPU workloads: with 2 threads on a busy shared machine, OpenMP barriers make each op
    wait for a descheduled thread (measured 20x slower); one thread is faster and steadier."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ------------------------------------------------------------------ necks
def test_gem_p1_is_average_and_large_p_approaches_max():
    x = torch.rand(2, 5, 4, 3, dtype=torch.float64) + 0.01
    gem1 = GeneralizedMeanPooling(p=1.0).double()
    torch.testing.assert_close(gem1(x), x.mean(dim=(2, 3)))
    gem_big = GeneralizedMeanPooling(p=200.0).double()
    brute_max = torch.tensor([[max(x[n, c].flatten().tolist()) for c in range(5)]
                              for n in range(2)], dtype=torch.float64)
    assert torch.allclose(gem_big(x), brute_max, rtol=0.02)
    assert (gem_big(x) <= brute_max + 1e-12).all()


def test_gem_p_is_learnable_and_pooling_by_name():
    gem = GeneralizedMeanPooling(p=3.0)
    gem(torch.rand(2, 4, 3, 3)).sum().backward()
    assert gem.p.grad is not None
    assert 'p' not in dict(GeneralizedMeanPooling(learn_p=False).named_parameters())
    x = torch.rand(2, 4, 3, 3)
    torch.testing.assert_close(GlobalPooling('avg')(x), GlobalAvgPool()(x))
    torch.testing.assert_close(GlobalPooling('max')(x), GlobalMaxPool()(x))
    torch.testing.assert_close(GlobalMaxPool()((x * 0, x)), x.amax(dim=(2, 3)))  # tuple: last map
    assert isinstance(MODELS.build(dict(type='GlobalPooling', pooling='gem', p=4.0)).pool,
                      GeneralizedMeanPooling)
    with pytest.raises(ValueError, match='avg'):
        GlobalPooling('median')


def test_bnneck_bias_frozen():
    neck = BNNeck(8)
    assert not neck.bn.bias.requires_grad
    assert torch.equal(neck.bn.weight.detach(), torch.ones(8))
    neck(torch.randn(6, 8)).pow(2).sum().backward()
    assert neck.bn.bias.grad is None and neck.bn.weight.grad is not None
    assert torch.equal(neck.bn.bias.detach(), torch.zeros(8))


# ------------------------------------------------------------------ backbones
def test_resnet50_last_stride_one_output_size():
    net = ReIDResNet(depth=50, last_stride=1).eval()
    with torch.no_grad():
        out = net(torch.zeros(1, 3, 256, 128))
    assert out.shape == (1, 2048, 16, 8)
    assert net.out_channels == 2048


def test_resnet_out_indices_and_last_stride_two():
    net = ReIDResNet(depth=50, last_stride=2, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = net(torch.zeros(1, 3, 64, 32))
    assert [tuple(o.shape[1:]) for o in outs] == [(256, 16, 8), (512, 8, 4), (1024, 4, 2),
                                                   (2048, 2, 1)]


def test_ibn_a_instance_norm_in_layers_1_to_3_only():
    net = ResNetIBN(depth=50)
    stages = {}
    for name, m in net.named_modules():
        if isinstance(m, nn.InstanceNorm2d):
            stages.setdefault(name.split('.')[0], []).append(name)
            assert name.endswith('.bn1.IN') and m.affine
            assert m.num_features == net.get_submodule(name[:-3]).BN.num_features  # half-half
    assert sorted(stages) == ['layer1', 'layer2', 'layer3']
    assert [len(stages[k]) for k in ('layer1', 'layer2', 'layer3')] == [3, 4, 6]
    assert isinstance(net.bn1, nn.BatchNorm2d)
    with torch.no_grad():
        assert net.eval()(torch.zeros(1, 3, 64, 32)).shape == (1, 2048, 4, 2)


def test_small_net_strides_and_size():
    net = SmallReIDNet(out_channels=256, stride=16)
    assert net(torch.rand(2, 3, 128, 64)).shape == (2, 256, 8, 4)
    assert SmallReIDNet(out_channels=512, stride=8)(torch.rand(2, 3, 128, 64)).shape == \
        (2, 512, 16, 8)
    n_params = sum(p.numel() for p in SmallReIDNet(out_channels=512).parameters())
    assert 0.5e6 < n_params < 2e6


# ------------------------------------------------------------------ pretrained weights
def _randomised(module, seed=0):
    """Random norm-layer tensors (a fresh init has them all ones / zeros, so equality after
    loading would prove nothing); conv weights are already random."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]:
            if t.dim() == 1:
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return module


def test_torchvision_state_dict_loads_via_init_cfg(tmp_path):
    src = _randomised(torchvision.models.resnet50(weights=None))
    path = tmp_path / 'resnet50_tv.pth'
    torch.save(src.state_dict(), path)
    net = ReIDResNet(depth=50, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    net.init_weights()
    ref = src.state_dict()
    own = net.state_dict()
    assert set(ref) - set(own) == {'fc.weight', 'fc.bias'}
    for key, value in own.items():
        assert torch.equal(value, ref[key]), key
    # The same layout also loads strictly without MMEngine (the fc keys are dropped).
    net.load_state_dict(ref, strict=True)


def test_ibn_release_layout_loads_via_init_cfg(tmp_path):
    src = _randomised(ResNetIBN(depth=50), seed=1)
    release = {f'module.{k}': v for k, v in src.state_dict().items()}
    release['module.fc.weight'] = torch.zeros(1000, 2048)
    release['module.fc.bias'] = torch.zeros(1000)
    path = tmp_path / 'resnet50_ibn_a.pth.tar'
    torch.save({'state_dict': release, 'epoch': 100}, path)
    net = ResNetIBN(depth=50, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    net.init_weights()
    for key, value in net.state_dict().items():
        assert torch.equal(value, src.state_dict()[key]), key
    assert 'layer1.0.bn1.IN.weight' in net.state_dict()


@pytest.mark.parametrize('checkpoint', ['/nonexistent/resnet50.pth',
                                        'https://download.pytorch.org/models/resnet50.pth'])
def test_missing_checkpoint_raises_clear_error(checkpoint):
    net = SmallReIDNet(init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    with pytest.raises(FileNotFoundError) as info:
        net.init_weights()
    msg = str(info.value)
    assert 'model.backbone.init_cfg.checkpoint' in msg and 'Nothing is downloaded' in msg
    model = ReIDBaseline(backbone=dict(type='SmallReIDNet', init_cfg=dict(
        type='Pretrained', checkpoint=checkpoint)), head=dict(num_classes=3))
    with pytest.raises(FileNotFoundError, match='init_cfg'):
        model.init_weights()


# ------------------------------------------------------------------ data preprocessor
def test_data_preprocessor_normalises_and_rejects_mixed_sizes():
    pre = ReIDDataPreprocessor(mean=(10., 20., 30.), std=(2., 4., 5.))
    img = torch.full((3, 4, 2), 50, dtype=torch.uint8)
    out = pre(dict(inputs=[img, img], data_samples=None))
    assert out['inputs'].dtype == torch.float32 and out['inputs'].shape == (2, 3, 4, 2)
    assert out['inputs'][0, :, 0, 0].tolist() == [20.0, 7.5, 4.0]
    with pytest.raises(ValueError, match='Resize'):
        pre(dict(inputs=[img, torch.zeros(3, 6, 2, dtype=torch.uint8)]))


# ------------------------------------------------------------------ baseline
NUM_IDS, K = 4, 2


def _batch(seed=0, h=64, w=32):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
              for _ in range(NUM_IDS * K)]
    samples = [ReIDDataSample(metainfo=dict(pid=100 + i // K, camid=i % K)).set_gt_label(i // K)
               for i in range(NUM_IDS * K)]
    return dict(inputs=inputs, data_samples=samples)


def _model(**kwargs):
    cfg = dict(type='ReIDBaseline', backbone=dict(type='SmallReIDNet', out_channels=64,
                                                  widths=(16, 32, 64)),
               neck=dict(type='GlobalPooling', pooling='gem'),
               head=dict(type='BNNeckHead', num_classes=NUM_IDS))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_baseline_loss_mode_and_backward():
    model = _model()
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    assert {'loss_id', 'loss_triplet'} <= set(losses)
    assert all(v.dim() == 0 for v in losses.values())
    (losses['loss_id'] + losses['loss_triplet']).backward()
    assert model.backbone.stem[0].weight.grad is not None
    assert model.head.classifier.weight.grad is not None
    assert model.head.bnneck.bn.bias.grad is None


def test_baseline_predict_and_tensor_modes():
    model = _model().eval()
    data = model.data_preprocessor(_batch(), False)
    with torch.no_grad():
        samples = model(**data, mode='predict')
        feats = model(data['inputs'], mode='tensor')
    assert len(samples) == NUM_IDS * K
    assert all(s.pred_feature.shape == (64, ) for s in samples)
    assert samples[3].pid == 101
    torch.testing.assert_close(torch.stack([s.pred_feature for s in samples]), feats)
    before = _model(test_feature='before_bn').eval()
    with torch.no_grad():
        assert before(data['inputs'], mode='predict')[0].pred_feature.shape == (64, )


def test_baseline_loss_configuration_and_label_errors():
    data = _batch()
    model = _model(losses=dict(id=dict(type='CrossEntropyLabelSmooth'), triplet=None))
    out = model(**model.data_preprocessor(data, True), mode='loss')
    assert 'loss_triplet' not in out and 'loss_id' in out

    wrt = _model(losses=dict(triplet=dict(type='WeightedRegularizedTriplet', loss_weight=0.5)))
    assert set(k for k in wrt(**wrt.data_preprocessor(data, True), mode='loss')
               if k.startswith('loss')) == {'loss_triplet'}

    small = _model(head=dict(type='BNNeckHead', num_classes=2))
    with pytest.raises(ValueError, match='model.head.num_classes'):
        small(**small.data_preprocessor(data, True), mode='loss')
    no_cls = _model(head=dict(type='BNNeckHead'))
    with pytest.raises(ValueError, match='model.head.num_classes'):
        no_cls(**no_cls.data_preprocessor(data, True), mode='loss')


def test_baseline_overfits_a_fixed_batch():
    torch.manual_seed(0)
    model = _model()
    model.train()
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    data = _batch(seed=3)
    history = []
    for _ in range(20):
        log_vars = model.train_step(data, optim)
        history.append(float(torch.as_tensor(log_vars['loss']).detach()))
    assert history[-1] < 0.7 * history[0], history


# ------------------------------------------------------------------ one Re-ID model base
class _NamedLikeCrossEntropyLoss(nn.Module):
    """A metric loss whose class name contains 'CrossEntropy': routing must not guess from it."""

    def forward(self, x, labels):
        return x.sum() * 0.0 + x.shape[1]


MODELS.register_module(name='CrossEntropyLookalikeForTest', module=_NamedLikeCrossEntropyLoss,
                       force=True)


def test_losses_are_routed_explicitly_never_by_class_name():
    from asym_plugins.models import TripletLoss
    data = _batch()
    model = _model(losses=dict(
        xent=dict(type='CrossEntropyLabelSmooth', epsilon=0.0),    # declared: logits
        lookalike=dict(type='CrossEntropyLookalikeForTest'),      # no declaration: f_t
        bn=dict(type='TripletLoss', input='bn_feature'),          # explicit
        id=dict(type='CrossEntropyLookalikeForTest', input='feature')))
    assert model.loss_inputs == dict(xent='logits', lookalike='feature', bn='bn_feature',
                                     id='feature')
    batch = model.data_preprocessor(data, True)
    out = model(**batch, mode='loss')
    f_t, f_i, logits = model.extract_feat(batch['inputs'])
    labels = torch.arange(NUM_IDS).repeat_interleave(K)
    # the widths say which input each loss saw: f_t has 64 channels, the logits NUM_IDS
    assert float(out['loss_lookalike'].detach()) == 64.0 == float(out['loss_id'].detach())
    torch.testing.assert_close(out['loss_xent'], nn.functional.cross_entropy(logits, labels))
    torch.testing.assert_close(out['loss_bn'], TripletLoss()(f_i, labels))
    with pytest.raises(ValueError, match='model.losses.bad.input'):
        _model(losses=dict(bad=dict(type='TripletLoss', input='pixels')))
    with pytest.raises(ValueError, match='model.losses.notype'):
        _model(losses=dict(notype=dict(margin=0.3)))


def test_every_reid_model_shares_the_base_dispatch_labels_and_accuracy():
    from asym_plugins.methods.mcma import MCMAModel
    from asym_plugins.methods.mos import MoSModel
    from asym_plugins.methods.sap import SAPModel
    from asym_plugins.models import AGWModel, BaseReIDModel
    for cls in (ReIDBaseline, MoSModel, AGWModel, SAPModel, MCMAModel):
        assert issubclass(cls, BaseReIDModel)
        # dispatch, labels and accuracy are the base's, not re-implemented
        for name in ('forward', 'labels', 'check_labels', 'add_accuracy'):
            assert name not in vars(cls) or cls is AGWModel and name == 'forward', (cls, name)
    model = _model()
    data = model.data_preprocessor(_batch(), True)
    with pytest.raises(ValueError, match='ReIDBaseline: unknown mode .*"tensor"'):
        model(**data, mode='features')
    with pytest.raises(ValueError, match='ReIDBaseline.loss needs data_samples with gt_label'):
        model(data['inputs'], [ReIDDataSample() for _ in data['inputs']], mode='loss')
    labels = torch.tensor([0, 3])
    model.check_labels(labels, 4)
    with pytest.raises(ValueError, match='label -1 < 0'):
        model.check_labels(torch.tensor([-1, 2]), 4)
    with pytest.raises(ValueError, match=r'label 4 >= model.num_classes=4.*at least 5'):
        model.check_labels(torch.tensor([0, 4]), 4, 'model.num_classes')
    out = BaseReIDModel.add_accuracy({}, torch.tensor([[1., 0.], [1., 0.], [0., 1.]]),
                                     torch.tensor([0, 1, 1]))
    assert float(out['acc_id']) == pytest.approx(2 / 3)
    assert BaseReIDModel.add_accuracy({}, None, labels) == {}


def test_sap_losses_follow_the_same_routing():
    from asym_plugins.methods.sap import SAPModel
    from asym_plugins.models import TripletLoss
    torch.manual_seed(0)
    model = SAPModel(backbone=dict(type='ReIDViT', arch='cpu', img_size=(64, 32)),
                     num_classes=NUM_IDS, num_parts=2, patch_loss=None, proxy_loss=None,
                     losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.0),
                                 tri=dict(type='TripletLoss', input='bn_feature')))
    assert model.loss_inputs == dict(id='logits', tri='bn_feature')
    batch = model.data_preprocessor(_batch(), True)
    model.eval()  # deterministic BN / drop path, to recompute the inputs by hand
    out = model(**batch, mode='loss')
    labels = torch.arange(NUM_IDS).repeat_interleave(K)
    glob, _, parts, _, _ = model._encode(batch['inputs'])
    bn_glob, logits = model.head(glob)
    bn_parts, part_logits = model.part_heads(parts)
    torch.testing.assert_close(out['loss_id'], nn.functional.cross_entropy(logits, labels))
    torch.testing.assert_close(out['loss_tri'], TripletLoss()(bn_glob, labels))
    per_part = [TripletLoss()(bn_parts[:, i], labels) for i in range(2)]
    torch.testing.assert_close(out['loss_part_tri'], torch.stack(per_part).mean())
    ce = [nn.functional.cross_entropy(part_logits[:, i], labels) for i in range(2)]
    torch.testing.assert_close(out['loss_part_id'], torch.stack(ce).mean())


def test_agw_model_lives_in_a_model_module_old_path_deprecated():
    from asym_plugins.models import AGWModel
    from asym_plugins.models.agw_model import AGWModel as direct
    assert AGWModel is direct
    with pytest.warns(DeprecationWarning, match='agw_model'):
        from asym_plugins.models.backbones.agw import AGWModel as old
    assert old is AGWModel
    with pytest.warns(DeprecationWarning, match='asym_plugins.methods.sap.model'):
        import importlib
        import sys
        sys.modules.pop('asym_plugins.methods.sap.sap_model', None)
        old_sap = importlib.import_module('asym_plugins.methods.sap.sap_model')
    from asym_plugins.methods.sap import SAPModel
    assert old_sap.SAPModel is SAPModel
