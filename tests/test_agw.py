"""AGW: two-stream routing, non-local blocks, pretrained stems, model wiring, SIM configs (tiny)."""
import os.path as osp

import pytest
import torch
import torchvision
from mmengine.config import Config

from asym_plugins.models.backbones.agw import AGWModel, TwoStreamResNet, TwoStreamSmallReIDNet
from asym_plugins.models.non_local import NonLocalBlock
from asym_plugins.registry import MODELS
from asym_plugins.structures import ReIDDataSample

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _samples(modalities, labels=None):
    out = []
    for i, m in enumerate(modalities):
        s = ReIDDataSample(metainfo=dict(modality=m, pid=i, camid=0))
        if labels is not None:
            s.set_gt_label(labels[i])
        out.append(s)
    return out


# ------------------------------------------------------------------ non-local block
def test_non_local_block_is_identity_at_init_and_learns():
    block = NonLocalBlock(8)
    x = torch.randn(3, 8, 5, 4)
    assert torch.equal(block(x), x)  # W's BN starts at zero (AGW)
    assert torch.equal(block.eval()(x), x)
    block.train()
    with torch.no_grad():
        block.W[1].weight.fill_(1.0)
    assert not torch.allclose(block(x), x)
    block(x).sum().backward()
    assert block.theta.weight.grad is not None and block.g.weight.grad is not None


def test_non_local_blocks_do_not_change_a_fresh_backbone():
    plain = TwoStreamResNet(depth=18, non_local=None).eval()
    with_nl = TwoStreamResNet(depth=18, non_local=(1, 2, 2, 1)).eval()
    missing, unexpected = with_nl.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith('non_local.') for k in missing)
    assert sum(len(s) for s in with_nl.non_local) == 6
    x = torch.randn(2, 3, 64, 32)
    mods = ['visible', 'infrared']
    with torch.no_grad():
        torch.testing.assert_close(with_nl(x, modality=mods), plain(x, modality=mods))


def test_agw_resnet50_layout():
    net = TwoStreamResNet(depth=50)  # AGW: 2 non-local blocks in layer2, 3 in layer3
    assert net.non_local_counts == (0, 2, 3, 0)
    assert [b.in_channels for b in net.non_local[1]] == [512, 512]
    assert [b.in_channels for b in net.non_local[2]] == [1024] * 3
    assert net.out_channels == 2048 and len(net.stems) == 2
    assert net.layer4[0].conv2.stride == (1, 1)  # last stride 1
    with pytest.raises(ValueError, match='non_local'):
        TwoStreamResNet(depth=18, non_local=(0, 3, 0, 0))  # layer2 of ResNet-18 has 2 blocks


# ------------------------------------------------------------------ routing
@pytest.mark.parametrize('build', [
    lambda: TwoStreamResNet(depth=18, non_local=(0, 1, 1, 0)),
    lambda: TwoStreamSmallReIDNet(out_channels=32, widths=(8, 16, 16)),
])
def test_two_stream_routing_by_perturbing_one_stem(build):
    net = build().eval()
    x = torch.randn(4, 3, 64, 32)
    mods = ['visible', 'infrared', 'infrared', 'visible']
    with torch.no_grad():
        before = net(x, modality=mods)
        # Each sample equals running it alone with its own modality (batch order kept).
        for i in range(4):
            torch.testing.assert_close(net(x[i:i + 1], modality=[mods[i]]), before[i:i + 1],
                                       rtol=1e-4, atol=1e-5)
        for p in net.stems[1].parameters():  # perturb the infrared stem only
            p.add_(torch.randn_like(p))
        after = net(x, modality=mods)
    vis, ir = torch.tensor([0, 3]), torch.tensor([1, 2])
    torch.testing.assert_close(after[vis], before[vis])
    assert (after[ir] - before[ir]).abs().max() > 1e-3
    # Other ways of naming the modality: stream indices, a bool mask (True = infrared).
    with torch.no_grad():
        torch.testing.assert_close(net(x, modality=torch.tensor([0, 1, 1, 0])), after)
        torch.testing.assert_close(net(x, modality=torch.tensor([False, True, True, False])),
                                   after)


def test_routing_errors():
    net = TwoStreamSmallReIDNet(out_channels=16, widths=(8, 8, 8))
    x = torch.randn(2, 3, 32, 16)
    with pytest.raises(ValueError, match='modality of each sample'):
        net(x)
    with pytest.raises(ValueError, match="unknown modality \\['thermal'\\]"):
        net(x, modality=['visible', 'thermal'])
    with pytest.raises(ValueError, match='3 modality entries for a batch of 2'):
        net(x, modality=['visible'] * 3)
    with pytest.raises(ValueError, match='distinct'):
        TwoStreamSmallReIDNet(modalities=('visible', 'visible'))


# ------------------------------------------------------------------ pretrained weights
def test_torchvision_checkpoint_is_copied_into_both_stems(tmp_path):
    ref = torchvision.models.resnet18(weights=None)
    for p in ref.parameters():
        p.data.normal_()
    path = tmp_path / 'resnet18.pth'
    torch.save(ref.state_dict(), path)
    net = MODELS.build(dict(type='TwoStreamResNet', depth=18, non_local=(0, 1, 0, 0),
                            init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    net.init_weights()
    for s in range(2):
        torch.testing.assert_close(net.stems[s].conv1.weight, ref.conv1.weight)
        torch.testing.assert_close(net.stems[s].bn1.running_var, ref.bn1.running_var)
    torch.testing.assert_close(net.layer3[1].conv2.weight, ref.layer3[1].conv2.weight)
    x = torch.randn(1, 3, 64, 32)
    assert torch.equal(net.non_local[1][0].W[1].weight, torch.zeros(128))  # identity kept
    # A two-stream state dict (our own checkpoints) loads unchanged.
    other = TwoStreamResNet(depth=18, non_local=(0, 1, 0, 0))
    other.load_state_dict(net.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(other.eval()(x, modality=['infrared']),
                                   net.eval()(x, modality=['infrared']))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        TwoStreamResNet(depth=18, non_local=None, init_cfg=dict(type='Pretrained',
                                                checkpoint=str(tmp_path / 'nope.pth'))
                        ).init_weights()


# ------------------------------------------------------------------ model wiring
def _tiny_agw(**kw):
    return AGWModel(backbone=dict(type='TwoStreamSmallReIDNet', out_channels=32,
                                  widths=(8, 16, 16), non_local=(0, 1, 1)),
                    head=dict(type='BNNeckHead', num_classes=4), **kw)


def test_agw_model_losses_and_routing_from_data_samples():
    model = _tiny_agw()
    assert type(model.losses['triplet']).__name__ == 'WeightedRegularizedTriplet'
    assert model.neck.pool.p.item() == 3.0 and 'p' not in dict(model.neck.named_parameters())
    labels = [0, 0, 1, 1, 0, 0, 1, 1]
    mods = ['visible'] * 2 + ['visible'] * 2 + ['infrared'] * 4
    x = torch.rand(8, 3, 64, 32)
    losses = model(x, _samples(mods, labels), mode='loss')
    assert set(losses) == {'loss_id', 'loss_triplet', 'acc_id'}
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    for s in range(2):  # both stems trained by a mixed batch
        assert model.backbone.stems[s][0].weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model(x[:2], _samples(['visible', 'infrared']), mode='predict')
        feats = torch.stack([s.pred_feature for s in out])
        torch.testing.assert_close(
            feats, model(x[:2], mode='tensor', modality=['visible', 'infrared']))
        swapped = model(x[:2], _samples(['infrared', 'visible']), mode='tensor')
    assert not torch.allclose(feats, swapped)  # the modality reaches the backbone
    with pytest.raises(ValueError, match='no `modality` field'):
        model(x[:1], [ReIDDataSample(metainfo=dict(pid=1))], mode='tensor')
    assert _tiny_agw(default_modality='visible').eval()(x[:1], mode='tensor').shape == (1, 32)


def test_agw_model_with_single_stream_backbone_is_reid_baseline():
    model = AGWModel(backbone=dict(type='SmallReIDNet', out_channels=16, widths=(8, 8, 8)),
                     neck=dict(type='GlobalPooling', pooling='avg'),
                     head=dict(type='BNNeckHead', num_classes=3)).eval()
    assert not model.routes_modality
    assert model(torch.rand(2, 3, 32, 16), mode='tensor').shape == (2, 16)


# ------------------------------------------------------------------ configs
@pytest.mark.parametrize('name, model_type, preset', [
    ('sysu_mm01_agw', 'AGWModel', 'sysu_mm01'),
    ('regdb_agw', 'AGWModel', 'regdb'),
    ('sysu_mm01_bot', 'ReIDBaseline', 'sysu_mm01'),
    ('synthetic_ir', 'AGWModel', 'sysu_mm01'),
    ('synthetic_ir_bot', 'ReIDBaseline', 'sysu_mm01'),
])
def test_sim_configs(name, model_type, preset):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/sim', f'{name}.py'))
    assert cfg.model.type == model_type
    sampler = cfg.train_dataloader.sampler
    assert sampler.type == 'CrossModalityIdentitySampler'
    assert sampler.batch_size == cfg.train_dataloader.batch_size
    hooks = {h['type']: h for h in cfg.custom_hooks}
    assert hooks['SIMRerankHook']['preset'] == preset and 'PortableCheckpointHook' in hooks
    if name == 'sysu_mm01_bot':
        assert sampler.batch_size == 128 and cfg.train_cfg.max_epochs == 200
        assert cfg.param_scheduler[0]['milestones'] == [150]
        assert cfg.optim_wrapper.optimizer.lr == 3.5e-4
        assert cfg.test_dataloader.dataset.query.pipeline[1]['scale'] == (128, 256)
    if model_type == 'AGWModel':
        model = cfg.model
        assert model.losses.triplet.type == 'WeightedRegularizedTriplet'
        assert model.neck.pooling == 'gem'
    if name.endswith('agw'):
        assert cfg.model.backbone.non_local == (0, 2, 3, 0)
        assert cfg.train_dataloader.dataset.pipeline[1]['scale'] == (144, 288)
        assert cfg.test_dataloader.dataset.gallery.pipeline[1]['scale'] == (144, 288)


def test_synthetic_ir_model_builds_from_config():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/sim/synthetic_ir.py'))
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 128, 64), _samples(['infrared', 'visible']), mode='tensor')
    assert out.shape == (2, 256)
