"""ReIDViT: grid, attention logits, position-embedding resize, timm / torchvision weights."""
import math

import pytest
import torch
import torch.nn.functional as F

from asym_plugins.models import ReIDBaseline
from asym_plugins.models.backbones.vit import (
    ReIDViT,
    convert_vit_state_dict,
    detect_vit_layout,
    grid_size,
    resize_pos_embed,
)

TINY = dict(embed_dims=16, depth=2, num_heads=2, mlp_ratio=2.0)


def tiny_vit(**kw):
    kw.setdefault('arch', TINY)
    kw.setdefault('img_size', (64, 32))
    kw.setdefault('drop_path_rate', 0.0)
    return ReIDViT(**kw).eval()


# ------------------------------------------------------------------ geometry
def test_overlapping_grid_of_the_paper_setting():
    assert grid_size((256, 128), 16, 12) == (21, 10)
    assert grid_size((256, 128), 16, 16) == (16, 8)
    vit = tiny_vit(img_size=(256, 128))
    assert vit.grid_size == (21, 10) and vit.pos_embed.shape == (1, 211, 16)
    tokens, _ = vit.forward_tokens(torch.zeros(1, 3, 256, 128))
    assert tokens.shape == (1, 211, 16)


def test_arch_presets():
    cpu = ReIDViT(arch='cpu', img_size=(64, 32))
    assert (cpu.embed_dims, cpu.depth, cpu.num_heads) == (128, 4, 4)
    with pytest.raises(ValueError, match='unknown arch'):
        ReIDViT(arch='huge-ish')


def test_attention_logits_match_manual_computation_and_fused_path():
    torch.manual_seed(0)
    vit = tiny_vit()
    x = torch.randn(2, 3, 64, 32)
    plain, none = vit.forward_tokens(x)
    tokens, logits = vit.forward_tokens(x, attn_layers=[-1, 0])
    assert none == [] and len(logits) == 2
    torch.testing.assert_close(tokens, plain, rtol=1e-5, atol=1e-5)
    assert logits[0].shape == (2, 2, 11, 11)
    # Layer 0 by hand: q k^T / sqrt(d_head) on LN(patches + pos).
    p, grid = vit.patch_embed(x)
    h = torch.cat([vit.cls_token.expand(2, -1, -1), p], 1) + vit.pos_embed
    layer = vit.layers[0]
    qkv = layer.attn.qkv(layer.ln1(h)).reshape(2, 11, 3, 2, 8)
    q, k = qkv[:, :, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2)
    torch.testing.assert_close(logits[1], q @ k.transpose(-1, -2) / math.sqrt(8))


def test_out_types_and_use_in_reid_baseline():
    x = torch.rand(2, 3, 64, 32)
    assert tiny_vit(out_type='cls')(x).shape == (2, 16, 1, 1)
    assert tiny_vit(out_type='featmap')(x).shape == (2, 16, 5, 2)
    model = ReIDBaseline(backbone=dict(type='ReIDViT', arch=TINY, img_size=(64, 32),
                                       out_type='cls'),
                         head=dict(type='BNNeckHead', num_classes=3)).eval()
    assert model(x, mode='tensor').shape == (2, 16)


# ------------------------------------------------------------------ position embeddings
def test_pos_embed_bilinear_resize_worked_by_hand():
    # 2 x 2 grid with value 10 * row + col in every channel, upsampled to 4 x 4.
    # align_corners=False samples source coordinates (i + 0.5) / 2 - 0.5 = -.25, .25, .75, 1.25,
    # clamped to 0, .25, .75, 1: rows -> 0, 2.5, 7.5, 10 and cols -> 0, .25, .75, 1.
    grid = torch.tensor([0., 1., 10., 11.])
    pe = torch.cat([torch.full((1, ), -7.0), grid]).view(1, 5, 1).repeat(1, 1, 3)
    out = resize_pos_embed(pe, (2, 2), (4, 4), num_extra_tokens=1, mode='bilinear')
    rows, cols = torch.tensor([0, 2.5, 7.5, 10]), torch.tensor([0, .25, .75, 1])
    expected = (rows[:, None] + cols[None, :]).flatten()  # row-major tokens
    assert out.shape == (1, 17, 3)
    assert torch.all(out[0, 0] == -7.0)  # CLS row untouched
    torch.testing.assert_close(out[0, 1:, 0], expected)


def test_pos_embed_bicubic_resize_for_256x128():
    torch.manual_seed(0)
    const = torch.full((1, 1 + 14 * 14, 4), 0.3)
    out = resize_pos_embed(const, (14, 14), (21, 10), mode='bicubic')
    assert out.shape == (1, 211, 4)
    torch.testing.assert_close(out, torch.full_like(out, 0.3))
    smooth = torch.linspace(0, 1, 14)
    pe = torch.cat([torch.zeros(1), (smooth[:, None] * smooth[None, :]).flatten()])
    out = resize_pos_embed(pe.view(1, -1, 1), (14, 14), (28, 28), mode='bicubic')
    back = resize_pos_embed(out, (28, 28), (14, 14), mode='bilinear')
    torch.testing.assert_close(back, pe.view(1, -1, 1), atol=0.02, rtol=0)
    assert torch.equal(resize_pos_embed(pe.view(1, -1, 1), (14, 14), (14, 14)), pe.view(1, -1, 1))
    with pytest.raises(ValueError, match='grid'):
        resize_pos_embed(pe.view(1, -1, 1), (13, 14), (14, 14))


def test_other_input_size_resizes_pos_embed_on_the_fly():
    vit = tiny_vit()
    tokens, _ = vit.forward_tokens(torch.zeros(1, 3, 88, 32))  # 7 x 2 grid
    assert tokens.shape == (1, 15, 16)


# ------------------------------------------------------------------ ImageNet weights
def _timm_state_dict(dims=16, depth=2, grid=(2, 2), patch=16, mlp=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    sd = {'cls_token': r(1, 1, dims), 'pos_embed': r(1, 1 + grid[0] * grid[1], dims),
          'patch_embed.proj.weight': r(dims, 3, patch, patch), 'patch_embed.proj.bias': r(dims),
          'norm.weight': 1 + r(dims), 'norm.bias': r(dims),
          'head.weight': r(1000, dims), 'head.bias': r(1000)}
    for i in range(depth):
        b = f'blocks.{i}.'
        sd.update({b + 'norm1.weight': 1 + r(dims), b + 'norm1.bias': r(dims),
                   b + 'attn.qkv.weight': r(3 * dims, dims), b + 'attn.qkv.bias': r(3 * dims),
                   b + 'attn.proj.weight': r(dims, dims), b + 'attn.proj.bias': r(dims),
                   b + 'norm2.weight': 1 + r(dims), b + 'norm2.bias': r(dims),
                   b + 'mlp.fc1.weight': r(mlp, dims), b + 'mlp.fc1.bias': r(mlp),
                   b + 'mlp.fc2.weight': r(dims, mlp), b + 'mlp.fc2.bias': r(dims)})
    return sd


def _timm_reference_forward(sd, x, depth=2, heads=2):
    """A from-the-definition ViT forward on timm-layout weights (pre-norm, eps 1e-6)."""
    def ln(t, p):
        return F.layer_norm(t, t.shape[-1:], sd[p + '.weight'], sd[p + '.bias'], 1e-6)

    lin = lambda t, p: F.linear(t, sd[p + '.weight'], sd[p + '.bias'])  # noqa: E731
    p = F.conv2d(x, sd['patch_embed.proj.weight'], sd['patch_embed.proj.bias'], stride=16)
    t = torch.cat([sd['cls_token'].expand(x.shape[0], -1, -1), p.flatten(2).transpose(1, 2)], 1)
    t = t + sd['pos_embed']
    n, length, d = t.shape
    for i in range(depth):
        b = f'blocks.{i}.'
        q, k, v = lin(ln(t, b + 'norm1'), b + 'attn.qkv').reshape(n, length, 3, heads, d // heads) \
            .permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // heads), -1) @ v
        t = t + lin(a.transpose(1, 2).reshape(n, length, d), b + 'attn.proj')
        t = t + lin(F.gelu(lin(ln(t, b + 'norm2'), b + 'mlp.fc1')), b + 'mlp.fc2')
    return ln(t, 'norm')


def _torchvision_from_timm(sd):
    tv = {'class_token': sd['cls_token'], 'encoder.pos_embedding': sd['pos_embed'],
          'conv_proj.weight': sd['patch_embed.proj.weight'],
          'conv_proj.bias': sd['patch_embed.proj.bias'], 'encoder.ln.weight': sd['norm.weight'],
          'encoder.ln.bias': sd['norm.bias'], 'heads.head.weight': sd['head.weight'],
          'heads.head.bias': sd['head.bias']}
    for i in range(2):
        b, t = f'blocks.{i}.', f'encoder.layers.encoder_layer_{i}.'
        for kind in ('weight', 'bias'):
            tv[t + 'ln_1.' + kind] = sd[b + 'norm1.' + kind]
            tv[t + 'ln_2.' + kind] = sd[b + 'norm2.' + kind]
            tv[t + 'self_attention.out_proj.' + kind] = sd[b + 'attn.proj.' + kind]
            tv[t + 'mlp.0.' + kind] = sd[b + 'mlp.fc1.' + kind]
            tv[t + 'mlp.3.' + kind] = sd[b + 'mlp.fc2.' + kind]
        tv[t + 'self_attention.in_proj_weight'] = sd[b + 'attn.qkv.weight']
        tv[t + 'self_attention.in_proj_bias'] = sd[b + 'attn.qkv.bias']
    return tv


@pytest.mark.parametrize('layout', ['timm', 'torchvision'])
def test_imagenet_weights_load_from_local_file(tmp_path, layout):
    sd = _timm_state_dict()
    ckpt = sd if layout == 'timm' else _torchvision_from_timm(sd)
    assert detect_vit_layout(ckpt) == layout
    path = tmp_path / f'{layout}.pth'
    torch.save(ckpt, path)
    # Same grid as the checkpoint (32 x 32, patch 16 stride 16): the forward must match the
    # timm-layout reference exactly.
    vit = tiny_vit(img_size=(32, 32), patch_size=16, stride=16,
                   init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    vit.init_weights()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(vit.forward_tokens(x)[0], _timm_reference_forward(sd, x),
                               rtol=1e-4, atol=1e-4)
    # 256x128-like overlapping grid: the position embedding is resized, the rest copied.
    vit2 = tiny_vit(img_size=(64, 32), init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    vit2.init_weights()
    torch.testing.assert_close(vit2.pos_embed.data,
                               resize_pos_embed(sd['pos_embed'], (2, 2), (5, 2), 1, 'bicubic'))
    torch.testing.assert_close(vit2.layers[1].ffn.fc2.weight.data, sd['blocks.1.mlp.fc2.weight'])
    torch.testing.assert_close(vit2.ln_final.bias.data, sd['norm.bias'])


def test_real_torchvision_vit_matches_after_loading(tmp_path):
    tvm = pytest.importorskip('torchvision.models.vision_transformer')
    torch.manual_seed(0)
    ref = tvm.VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=2,
                                hidden_dim=16, mlp_dim=32).eval()
    torch.save(ref.state_dict(), tmp_path / 'vit_tv.pth')
    vit = tiny_vit(img_size=(32, 32), patch_size=16, stride=16,
                   init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'vit_tv.pth')))
    vit.init_weights()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        t = ref._process_input(x)
        expected = ref.encoder(torch.cat([ref.class_token.expand(2, -1, -1), t], 1))
    torch.testing.assert_close(vit.forward_tokens(x)[0], expected, rtol=1e-4, atol=1e-4)


def test_convert_drops_heads_and_deit_distillation_token():
    sd = _timm_state_dict()
    sd['dist_token'] = torch.zeros(1, 1, 16)
    sd['pos_embed'] = torch.arange(6 * 16, dtype=torch.float).view(1, 6, 16)  # cls, dist, 2x2
    out = convert_vit_state_dict(sd)
    assert not any(k.startswith(('head', 'dist')) for k in out)
    assert out['pos_embed'].shape == (1, 5, 16)
    torch.testing.assert_close(out['pos_embed'][0, 1], sd['pos_embed'][0, 2])
    assert 'layers.0.attn.qkv.weight' in out and 'ln_final.weight' in out


def test_missing_checkpoint_names_the_field_and_the_weights():
    vit = tiny_vit(init_cfg=dict(type='Pretrained', checkpoint='pretrained/nope.pth'))
    with pytest.raises(FileNotFoundError, match='model.backbone.init_cfg.checkpoint') as e:
        vit.init_weights()
    assert 'ViT-B/16' in str(e.value)


def test_own_checkpoint_round_trip():
    a, b = tiny_vit(), tiny_vit()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 64, 32)
    torch.testing.assert_close(a.forward_tokens(x)[0], b.forward_tokens(x)[0])
