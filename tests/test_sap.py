"""SAP math (m_hat, m_f, A_patch, L_patch, L_proxy, SSD), SAPModel and the distillation hook."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from asym_plugins.hooks import TeacherDistillationHook
from asym_plugins.methods.sap import (
    PatchConsistencyDistillLoss,
    ProxyConsistencyDistillLoss,
    SAPModel,
    foreground_flag,
    map_part_labels,
    patch_attention_target,
    patch_part_distribution,
    proxy_attention_target,
    ssd_drop_probabilities,
    ssd_keep_mask,
)
from asym_plugins.methods.sap.part_targets import default_label_map
from asym_plugins.structures import ReIDDataSample

# 4 x 4 mask, patches 2 x 2 with stride 2 (row-major P0 P1 / P2 P3).
#   P0 all head; P1 background + one occluder pixel (6 -> background);
#   P2 three upper-body pixels + one background; P3 all lower body.
HAND_MASK = torch.tensor([[1, 1, 0, 0],
                          [1, 1, 0, 6],
                          [2, 2, 3, 3],
                          [2, 0, 3, 3]])


def hand_targets():
    cols = map_part_labels(HAND_MASK[None], default_label_map(4))
    # pool='sum', lambda = ln 2: softmax(ln2 * counts) = 2^counts / sum.
    m_hat = patch_part_distribution(cols, 4, patch_size=2, stride=2, lam=math.log(2), pool='sum')
    return m_hat


def test_m_hat_and_m_f_by_hand():
    m_hat = hand_targets()[0]
    expected = torch.tensor([[1, 16, 1, 1, 1], [16, 1, 1, 1, 1], [2, 1, 8, 1, 1],
                             [1, 1, 1, 16, 1]], dtype=torch.float)
    expected = expected / expected.sum(1, keepdim=True)   # /20, /20, /13, /20
    torch.testing.assert_close(m_hat, expected)
    torch.testing.assert_close(foreground_flag(m_hat[None], gamma=0.5)[0],
                               torch.tensor([1., 0., 1., 1.]))
    # 'mean' pooling with lambda * P^2 is the same thing.
    cols = map_part_labels(HAND_MASK[None], default_label_map(4))
    torch.testing.assert_close(
        patch_part_distribution(cols, 4, 2, 2, lam=4 * math.log(2), pool='mean')[0], expected)


def test_a_patch_by_hand():
    m_hat = hand_targets()
    a = patch_attention_target(m_hat, foreground_flag(m_hat, 0.5))[0]
    # Entries of m_hat m_hat^T worked out from the rows above, e.g. P0.P2 =
    # (1*2 + 16*1 + 1*8 + 1 + 1) / (20 * 13) = 28 / 260.
    s = [[260 / 400, 35 / 400, 28 / 260, 35 / 400],
         [35 / 400, 260 / 400, 43 / 260, 35 / 400],
         [28 / 260, 43 / 260, 71 / 169, 28 / 260],
         [35 / 400, 35 / 400, 28 / 260, 260 / 400]]
    expected = torch.tensor([[1.0, 1, 0, 1, 1],
                             [1, *s[0]],
                             [0, *s[1]],
                             [1, *s[2]],
                             [1, *s[3]]])
    torch.testing.assert_close(a, expected)


def test_overlapping_patches_pool_their_own_windows():
    mask = torch.zeros(1, 6, 4, dtype=torch.long)
    mask[0, 3:] = 1  # lower half head
    m_hat = patch_part_distribution(mask, 4, patch_size=4, stride=2, lam=100.0)
    assert m_hat.shape == (1, 2, 5)   # windows rows 0-3 and 2-5 (one column)
    assert m_hat[0, 0].argmax() == 0 and m_hat[0, 1].argmax() == 1


@pytest.mark.parametrize('head_reduce', ['mean', 'per_head'])
def test_l_patch_is_minimal_when_student_attention_equals_the_target(head_reduce):
    torch.manual_seed(0)
    m_hat = torch.softmax(3 * torch.randn(2, 6, 5), -1)
    a = patch_attention_target(m_hat, foreground_flag(m_hat, 0.5))
    loss_fn = PatchConsistencyDistillLoss(loss_weight=0.7, temperature=0.5,
                                          head_reduce=head_reduce)
    target = torch.softmax(a / 0.5, -1)
    # Student logits = log target + any per-row constant, identical in 3 heads.
    best = (target.log() + torch.randn(2, 7, 1))[:, None].repeat(1, 3, 1, 1)
    best.requires_grad_(True)
    l_best = loss_fn([best], a)
    entropy = -(target * target.log()).sum(-1).mean()
    torch.testing.assert_close(l_best, 0.7 * entropy)
    l_best.backward()
    assert best.grad.abs().max() < 1e-6   # stationary point
    for _ in range(50):
        other = best.detach() + 0.5 * torch.randn_like(best)
        assert loss_fn([other], a) > l_best
    # Dropped rows do not count.
    keep = torch.ones(2, 6, dtype=torch.bool)
    keep[:, 2] = False
    noisy = best.detach().clone()
    noisy[:, :, 3] += 5 * torch.randn(2, 3, 7)   # row of patch 2 (CLS is row 0)
    torch.testing.assert_close(loss_fn([noisy], a, keep),
                               0.7 * (-(target * target.log()).sum(-1)[:, [0, 1, 2, 4, 5, 6]]
                                      .mean()))


def test_l_proxy_target_and_minimum():
    torch.manual_seed(0)
    m_hat = torch.softmax(3 * torch.randn(2, 6, 5), -1)
    keep = torch.tensor([[True] * 6, [True, False, True, True, False, True]])
    target = proxy_attention_target(m_hat, 0.5, keep)
    assert target.shape == (2, 4, 6)
    torch.testing.assert_close(target.sum(-1), torch.ones(2, 4))
    assert torch.all(target[1, :, [1, 4]] == 0)
    torch.testing.assert_close(target[0], torch.softmax(m_hat[0, :, 1:].T / 0.5, -1))
    loss_fn = ProxyConsistencyDistillLoss(temperature=0.5)
    best = torch.where(target > 0, target.log(), torch.zeros_like(target))[:, None]
    l_best = loss_fn(best, m_hat, keep)
    assert torch.isfinite(l_best)
    for _ in range(20):
        assert loss_fn(best + torch.randn_like(best), m_hat, keep) > l_best


def test_ssd_probabilities_are_softmax_of_row_sums():
    tokens = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]]])
    # Normalised: e1, e1, e2 -> T = [[1,1,0],[1,1,0],[0,0,1]], row sums 2, 2, 1, t = L = 3.
    expected = torch.softmax(torch.tensor([2.0, 2.0, 1.0]) / 3, 0)
    torch.testing.assert_close(ssd_drop_probabilities(tokens)[0], expected)
    raw = ssd_drop_probabilities(tokens, normalize=False, temperature=1.0)[0]
    torch.testing.assert_close(raw, torch.softmax(torch.tensor([3.0, 6.0, 9.0]), 0))


def test_ssd_drop_frequencies_follow_the_softmax_of_row_sums():
    g = torch.Generator().manual_seed(1234)
    tokens = torch.randn(1, 12, 8, generator=g)
    tokens[0, :5] += 2.0 * torch.ones(8)   # 5 similar patches: the most redundant
    p = ssd_drop_probabilities(tokens, temperature=2.0)
    assert p[0, :5].min() > p[0, 5:].max()
    trials, ratio = 20000, 0.2
    rate = p * ratio * 12
    assert rate.max() < 1            # no clamping: frequencies exactly proportional to p
    drops = torch.zeros(12)
    for _ in range(trials // 500):
        keep = ssd_keep_mask(p.expand(500, -1), ratio, generator=g)
        drops += (~keep).sum(0)
    expected = trials * rate[0]
    chi2 = (((drops - expected) ** 2) / (expected * (1 - rate[0]))).sum().item()
    assert stats.chi2.sf(chi2, df=12) > 1e-3, (drops, expected)
    # Same statement as a goodness of fit of where the drops fell vs p.
    _, pval = stats.chisquare(drops.numpy(), (p[0] * drops.sum()).numpy())
    assert pval > 1e-3
    assert abs(drops.sum().item() / trials - ratio * 12) < 0.05


def test_ssd_never_drops_every_patch():
    keep = ssd_keep_mask(torch.full((4, 3), 1 / 3), drop_ratio=1.0)
    assert keep.sum(1).tolist() == [1, 1, 1, 1]


# ------------------------------------------------------------------ model + hook
TINY_VIT = dict(type='ReIDViT', arch=dict(embed_dims=32, depth=2, num_heads=2, mlp_ratio=2.0),
                img_size=(64, 32), patch_size=16, stride=12, drop_path_rate=0.0)


def make_batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, 64, 32), generator=g, dtype=torch.uint8)
              for _ in range(n)]
    samples = []
    for i in range(n):
        s = ReIDDataSample(metainfo=dict(img_path=f'img_{i}.png', pid=i // 2, camid=0))
        s.set_gt_label(i // 2)
        mask = torch.zeros(64, 32, dtype=torch.long)
        mask[4:14, 10:22], mask[14:36, 6:26], mask[36:58, 8:24], mask[58:62, 8:24] = 1, 2, 3, 4
        mask[40:, :16] = 6  # occluder
        s.part_mask = mask
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def build_model(**kw):
    torch.manual_seed(0)
    return SAPModel(backbone=TINY_VIT, num_classes=4, patch_layers=(0, 1), **kw)


def test_sap_model_losses_and_ablation_switches():
    data = make_batch()
    TeacherDistillationHook(teacher=dict(type='SampleMaskTeacher')).before_train_iter(
        None, 0, data)
    variants = {
        'full': ({}, {'loss_patch', 'loss_proxy', 'loss_part_id'}, 32 * 5),
        'baseline': (dict(patch_loss=None, proxy=None), set(), 32),
        'patch': (dict(proxy=None), {'loss_patch'}, 32),
        'proxy': (dict(patch_loss=None), {'loss_proxy', 'loss_part_id'}, 32 * 5),
        'no_mapr': (dict(proxy=dict(mapr=False)), {'loss_patch', 'loss_proxy'}, 32 * 5),
        'no_ssd': (dict(ssd=None), {'loss_patch', 'loss_proxy'}, 32 * 5),
    }
    for name, (kw, must, dims) in variants.items():
        model = build_model(**kw).train()
        batch = model.data_preprocessor(data, True)
        losses = model(**batch, mode='loss')
        assert must <= set(losses), (name, sorted(losses))
        if name == 'baseline':
            assert set(losses) == {'loss_id', 'loss_triplet', 'acc_id'}
        total = sum(v for k, v in losses.items() if k.startswith('loss'))
        assert torch.isfinite(total)
        total.backward()
        assert model.feature_dims == dims
        assert model.use_ssd == (name not in ('no_ssd', 'baseline'))
    assert not build_model(proxy=dict(mapr=False)).proxy.mapr


def test_training_without_teacher_masks_says_to_add_the_hook():
    model = build_model().train()
    batch = model.data_preprocessor(make_batch(), True)
    with pytest.raises(ValueError, match='TeacherDistillationHook'):
        model(**batch, mode='loss')


def test_inference_needs_no_teacher_and_the_hook_changes_nothing():
    model = build_model().eval()
    plain = make_batch()
    for s in plain['data_samples']:   # test samples: no mask at all
        del s.part_mask
    out = model.val_step(plain)
    feats_off = torch.stack([s.pred_feature for s in out])
    assert feats_off.shape == (8, 32 * 5)
    hooked = make_batch()
    hook = TeacherDistillationHook(teacher=dict(type='SampleMaskTeacher'))
    hook.before_val_iter(None, 0, hooked)     # inactive at validation / test
    hook.before_test_iter(None, 0, hooked)
    assert not any('part_target' in s for s in hooked['data_samples'])
    hook.before_train_iter(None, 0, hooked)   # even with targets attached...
    assert all('part_target' in s for s in hooked['data_samples'])
    feats_on = torch.stack([s.pred_feature for s in model.val_step(hooked)])
    assert torch.equal(feats_on, feats_off)   # ...inference ignores them
    torch.testing.assert_close(model(model.data_preprocessor(plain)['inputs'], mode='tensor'),
                               feats_off)


def test_part_feature_layout_and_bn_option():
    model = build_model(test_feature='after_bn', part_feature_scale=1.0).eval()
    x = torch.rand(2, 3, 64, 32)
    feats = model(x, mode='tensor')
    glob = model.backbone.forward_tokens(x)[0][:, 0]
    torch.testing.assert_close(feats[:, :32], model.head(glob)[0])


def test_hook_caches_and_aligns_source_teacher_masks():
    class Source:
        source_geometry = True
        calls = 0

        def source_mask(self, info):
            Source.calls += 1
            m = np.zeros((32, 16), np.uint8)
            m[:, :8] = 1   # left half head, at half the batch resolution
            return m

    hook = TeacherDistillationHook(teacher=dict(type='SampleMaskTeacher'))
    hook.teacher = Source()
    data = make_batch(4)
    data['data_samples'][1].set_metainfo(dict(flip=True, flip_direction='horizontal'))
    masks = hook.masks_for_batch(data['inputs'], data['data_samples'])
    assert masks[0].shape == (64, 32)
    assert masks[0][:, :16].eq(1).all() and masks[0][:, 16:].eq(0).all()
    assert masks[1][:, 16:].eq(1).all() and masks[1][:, :16].eq(0).all()  # mirrored
    hook.masks_for_batch(data['inputs'], data['data_samples'])
    assert Source.calls == 4 and hook.cache_hits == 4


def test_hook_preflight_lists_everything_missing(tmp_path):
    (tmp_path / 'here').mkdir()
    with pytest.raises(FileNotFoundError) as e:
        TeacherDistillationHook(teacher=dict(type='SampleMaskTeacher'), preflight=[
            dict(path=str(tmp_path / 'here'), what='PRESENT', kind='dir'),
            dict(path=str(tmp_path / 'data'), what='the dataset', field='data_root'),
            dict(path=str(tmp_path / 'w.pth'), what='the weights', kind='file')])
    msg = str(e.value)
    assert 'the dataset' in msg and 'data_root' in msg and 'the weights' in msg
    assert 'PRESENT' not in msg


@pytest.mark.parametrize('heads,mapr', [(1, True), (2, True), (1, False)])
def test_proxy_branch_fast_path_equals_textbook_attention(heads, mapr):
    from asym_plugins.methods.sap import PartProxyModule
    torch.manual_seed(0)
    module = PartProxyModule(16, 4, num_heads=heads, mapr=mapr).double()
    for p in module.parameters():   # non-trivial biases everywhere
        torch.nn.init.normal_(p, std=0.3)
    patches = torch.randn(3, 10, 16, dtype=torch.double)
    fast, fast_logits = module(patches)
    slow, slow_logits = module(patches, naive=True)
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(fast_logits, slow_logits)
    assert fast_logits.shape == (3, heads, 4, 10)


def test_part_heads_equal_k_bnneck_heads():
    from asym_plugins.methods.sap.model import PartHeads
    from asym_plugins.models import BNNeckHead
    torch.manual_seed(0)
    heads = PartHeads(3, 8, 5).train()
    parts = torch.randn(6, 3, 8)
    feats, logits = heads(parts)
    for k in range(3):
        ref = BNNeckHead(8, 5).train()
        ref.classifier.weight.data = heads.weight.data[k].clone()
        f, lo = ref(parts[:, k])
        torch.testing.assert_close(feats[:, k], f)
        torch.testing.assert_close(logits[:, k], lo)
