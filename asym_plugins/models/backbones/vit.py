"""Vision Transformer for Re-ID: overlapping patch embedding, resizable position embeddings,
per-layer attention logits on request, and loading of ImageNet weights in the timm or the
torchvision key layout from a local file.

Written for this package (SAP's student, MCMA's image encoder). The layer layout follows the
original ViT (Dosovitskiy et al. 2021): pre-norm blocks ``x + MSA(LN(x))``, ``x + MLP(LN(x))``,
a learnable CLS token, learnable position embeddings and a final LayerNorm. TransReID's
overlapping patch embedding (He et al. 2021) is a convolution of kernel ``patch_size`` and stride
``stride < patch_size``: 256x128 with 16/12 gives a 21 x 10 grid (210 patches).

State-dict keys of this module (used in checkpoints written by this package)::

    cls_token, pos_embed, patch_embed.proj.{weight,bias},
    layers.{i}.ln1, layers.{i}.attn.qkv, layers.{i}.attn.proj, layers.{i}.ln2,
    layers.{i}.ffn.fc1, layers.{i}.ffn.fc2, ln_final
"""
import math
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from asym_plugins.registry import MODELS

from .base import BaseReIDBackbone, check_local_checkpoint, pretrained_init_cfgs

#: Named architectures. ``base`` is ViT-B/16 (86M parameters), ``small`` ViT-S/16 (DeiT-S),
#: ``tiny`` ViT-Ti/16; ``cpu`` is a 4-layer, 128-wide ViT for CPU demos and tests.
ARCH_SETTINGS: Dict[str, dict] = {
    'base': dict(embed_dims=768, depth=12, num_heads=12, mlp_ratio=4.0),
    'small': dict(embed_dims=384, depth=12, num_heads=6, mlp_ratio=4.0),
    'tiny': dict(embed_dims=192, depth=12, num_heads=3, mlp_ratio=4.0),
    'cpu': dict(embed_dims=128, depth=4, num_heads=4, mlp_ratio=2.0),
}

OUT_TYPES = ('tokens', 'cls', 'featmap')
_VIT_HINT = ('For ViT-B/16 use an ImageNet ViT-B/16 state_dict saved with torch.save, in the timm '
             'layout (e.g. vit_base_patch16_224 / jx_vit_base_p16_224-80ecf9dd.pth) or the '
             'torchvision layout (vit_b_16); keys are converted and the position embeddings '
             'resized on load.')


def grid_size(img_size: Tuple[int, int], patch_size: int, stride: int) -> Tuple[int, int]:
    """Patch grid (rows, cols) of a ``patch_size`` convolution with ``stride`` and no padding."""
    h, w = img_size
    if h < patch_size or w < patch_size:
        raise ValueError(f'ReIDViT: image size {img_size} is smaller than patch_size={patch_size}.')
    return (h - patch_size) // stride + 1, (w - patch_size) // stride + 1


def resize_pos_embed(pos_embed: torch.Tensor, src_grid: Tuple[int, int],
                     dst_grid: Tuple[int, int], num_extra_tokens: int = 1,
                     mode: str = 'bicubic') -> torch.Tensor:
    """Resize a ViT position embedding from one patch grid to another.

    The first ``num_extra_tokens`` rows (CLS) are kept; the patch rows are laid out on
    ``src_grid`` (rows, cols), interpolated on that 2-D grid (``'bicubic'`` or ``'bilinear'``,
    ``align_corners=False``) to ``dst_grid`` and flattened back row-major.

    Shapes: ``(1, E + Hs*Ws, D) -> (1, E + Hd*Wd, D)``.

    Examples::
        >>> resize_pos_embed(torch.zeros(1, 1 + 14 * 14, 8), (14, 14), (21, 10)).shape
        torch.Size([1, 211, 8])
    """
    if mode not in ('bicubic', 'bilinear'):
        raise ValueError(f"resize_pos_embed: mode must be 'bicubic' or 'bilinear', got {mode!r}.")
    hs, ws = src_grid
    if pos_embed.shape[1] != num_extra_tokens + hs * ws:
        raise ValueError(f'resize_pos_embed: {pos_embed.shape[1]} rows do not match '
                         f'{num_extra_tokens} extra tokens + a {hs}x{ws} grid.')
    extra, grid = pos_embed[:, :num_extra_tokens], pos_embed[:, num_extra_tokens:]
    if tuple(src_grid) == tuple(dst_grid):
        return pos_embed
    dim = grid.shape[-1]
    dtype = grid.dtype
    grid = grid.reshape(1, hs, ws, dim).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=tuple(dst_grid), mode=mode, align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, dst_grid[0] * dst_grid[1], dim).to(dtype)
    return torch.cat([extra, grid], dim=1)


def _infer_square_grid(num_tokens: int, src_grid: Optional[Tuple[int, int]]
                       ) -> Tuple[int, Tuple[int, int]]:
    """(number of extra tokens, grid) of a checkpoint's position embedding with ``num_tokens``
    rows: ``src_grid`` when given, else a square grid with 1, 0 or 2 extra tokens."""
    if src_grid is not None:
        extra = num_tokens - src_grid[0] * src_grid[1]
        if extra < 0:
            raise ValueError(f'pretrained_grid={src_grid} has more cells than the checkpoint '
                             f'position embedding ({num_tokens} rows).')
        return extra, tuple(src_grid)
    for extra in (1, 0, 2):
        side = int(round(math.sqrt(num_tokens - extra)))
        if side * side == num_tokens - extra:
            return extra, (side, side)
    raise ValueError(f'Cannot infer the patch grid of a checkpoint position embedding with '
                     f'{num_tokens} rows; set model.backbone.pretrained_grid=(rows, cols).')


# ---------------------------------------------------------------- key layouts
_TIMM_BLOCK = {
    'norm1': 'ln1', 'norm2': 'ln2', 'attn.qkv': 'attn.qkv', 'attn.proj': 'attn.proj',
    'mlp.fc1': 'ffn.fc1', 'mlp.fc2': 'ffn.fc2',
}
_TV_BLOCK = {
    'ln_1': 'ln1', 'ln_2': 'ln2', 'self_attention.out_proj': 'attn.proj',
    'mlp.0': 'ffn.fc1', 'mlp.3': 'ffn.fc2', 'mlp.linear_1': 'ffn.fc1', 'mlp.linear_2': 'ffn.fc2',
}
# Checkpoint entries that are not part of a backbone (classifier heads, distillation heads).
_DROPPED = re.compile(r'^(head|heads|head_dist|pre_logits|fc_norm|fc|classifier)(\.|$)')


def detect_vit_layout(keys) -> str:
    """``'timm'``, ``'torchvision'`` or ``'asym'`` (this module's own keys) from state-dict keys."""
    keys = list(keys)
    if any(k.startswith('layers.') or k == 'ln_final.weight' for k in keys):
        return 'asym'
    if any(k.startswith(('conv_proj.', 'encoder.layers.')) or k == 'class_token' for k in keys):
        return 'torchvision'
    if any(k.startswith(('blocks.', 'patch_embed.')) or k == 'cls_token' for k in keys):
        return 'timm'
    raise ValueError(f'Unrecognised ViT checkpoint layout (first keys: {keys[:5]}). Expected '
                     'timm keys (blocks.0.attn.qkv.weight, ...) or torchvision keys '
                     '(encoder.layers.encoder_layer_0..., conv_proj.weight).')


def convert_vit_state_dict(state_dict: Dict[str, torch.Tensor], layout: str = 'auto'
                           ) -> Dict[str, torch.Tensor]:
    """Rename an ImageNet ViT state_dict (timm or torchvision keys) to :class:`ReIDViT` keys.

    Classifier heads are dropped; a DeiT distillation token is dropped with its position row.
    Tensors are not resized here (:meth:`ReIDViT.convert_checkpoint_keys` resizes the position
    embedding and the patch kernel on load).

    Examples::
        >>> sd = {'cls_token': torch.zeros(1, 1, 8), 'blocks.0.mlp.fc1.weight': torch.zeros(4, 8)}
        >>> sorted(convert_vit_state_dict(sd))
        ['cls_token', 'layers.0.ffn.fc1.weight']
    """
    if layout == 'auto':
        layout = detect_vit_layout(state_dict.keys())
    if layout == 'asym':
        return dict(state_dict)
    out: Dict[str, torch.Tensor] = {}
    has_dist = 'dist_token' in state_dict
    for key, val in state_dict.items():
        new = None
        if _DROPPED.match(key):
            continue
        if layout == 'timm':
            if key in ('cls_token', 'pos_embed'):
                new = key
            elif key == 'dist_token':
                continue
            elif key.startswith('patch_embed.proj.'):
                new = key
            elif key.startswith('norm.'):
                new = 'ln_final.' + key[len('norm.'):]
            else:
                m = re.match(r'^blocks\.(\d+)\.(.+)\.(weight|bias)$', key)
                if m and m.group(2) in _TIMM_BLOCK:
                    new = f'layers.{m.group(1)}.{_TIMM_BLOCK[m.group(2)]}.{m.group(3)}'
        elif layout == 'torchvision':
            if key == 'class_token':
                new = 'cls_token'
            elif key == 'encoder.pos_embedding':
                new = 'pos_embed'
            elif key.startswith('conv_proj.'):
                new = 'patch_embed.proj.' + key[len('conv_proj.'):]
            elif key.startswith('encoder.ln.'):
                new = 'ln_final.' + key[len('encoder.ln.'):]
            else:
                m = re.match(r'^encoder\.layers\.encoder_layer_(\d+)\.(.+)$', key)
                if m:
                    idx, rest = m.group(1), m.group(2)
                    if rest == 'self_attention.in_proj_weight':
                        new = f'layers.{idx}.attn.qkv.weight'
                    elif rest == 'self_attention.in_proj_bias':
                        new = f'layers.{idx}.attn.qkv.bias'
                    else:
                        mod, _, kind = rest.rpartition('.')
                        if mod in _TV_BLOCK:
                            new = f'layers.{idx}.{_TV_BLOCK[mod]}.{kind}'
        else:
            raise ValueError(f"convert_vit_state_dict: layout must be 'auto', 'timm', "
                             f"'torchvision' or 'asym', got {layout!r}.")
        out[new if new is not None else key] = val  # unknown keys are kept: MMEngine reports them
    if has_dist and 'pos_embed' in out:
        # DeiT: rows are [cls, dist, patches...]; keep cls and the patches.
        pe = out['pos_embed']
        out['pos_embed'] = torch.cat([pe[:, :1], pe[:, 2:]], dim=1)
    return out


# ---------------------------------------------------------------- modules
class DropPath(nn.Module):
    """Stochastic depth: zero a sample's residual branch with probability ``drop_prob``."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


class PatchEmbed(nn.Module):
    """Overlapping patch embedding: Conv2d(kernel=patch_size, stride=stride), flattened."""

    def __init__(self, patch_size: int, stride: int, in_channels: int, embed_dims: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, kernel_size=patch_size, stride=stride)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        x = self.proj(x)
        grid = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), grid


class SelfAttention(nn.Module):
    """Multi-head self-attention that can return its logits ``q k^T / sqrt(d_head)``."""

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'ReIDViT: embed_dims={embed_dims} is not divisible by '
                             f'num_heads={num_heads}.')
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.scale = self.head_dims ** -0.5
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, return_logits: bool = False
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        n, t, c = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        drop = self.attn_drop if self.training else 0.0
        logits = None
        if return_logits:
            logits = (q * self.scale) @ k.transpose(-2, -1)  # (N, heads, T, T)
            attn = F.dropout(logits.softmax(dim=-1), p=drop, training=self.training)
            out = attn @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        out = out.transpose(1, 2).reshape(n, t, c)
        return self.proj_drop(self.proj(out)), logits


class FFN(nn.Module):

    def __init__(self, embed_dims: int, hidden_dims: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(embed_dims, hidden_dims)
        self.fc2 = nn.Linear(hidden_dims, embed_dims)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class TransformerLayer(nn.Module):
    """Pre-norm transformer encoder layer."""

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float, qkv_bias: bool,
                 drop: float, attn_drop: float, drop_path: float, eps: float = 1e-6) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(embed_dims, eps=eps)
        self.attn = SelfAttention(embed_dims, num_heads, qkv_bias, attn_drop, drop)
        self.ln2 = nn.LayerNorm(embed_dims, eps=eps)
        self.ffn = FFN(embed_dims, int(embed_dims * mlp_ratio), drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, return_logits: bool = False
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        y, logits = self.attn(self.ln1(x), return_logits)
        x = x + self.drop_path(y)
        x = x + self.drop_path(self.ffn(self.ln2(x)))
        return x, logits


@MODELS.register_module()
class ReIDViT(BaseReIDBackbone):
    """ViT with overlapping patches for Re-ID (TransReID's student layout).

    Args:
        arch: ``'base'`` (ViT-B/16), ``'small'``, ``'tiny'``, ``'cpu'`` (see
            :data:`ARCH_SETTINGS`) or a dict with ``embed_dims``, ``depth``, ``num_heads``,
            ``mlp_ratio``.
        img_size: (H, W) the position embeddings are laid out for (other input sizes are
            served by resizing them on the fly).
        patch_size: patch (kernel) size. ``stride``: patch stride (< patch_size overlaps).
        in_channels: image channels.
        qkv_bias: bias of the qkv projection.
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout and the maximal
            stochastic depth (linearly increasing over the layers).
        pos_embed_interp: ``'bicubic'`` or ``'bilinear'``, used to resize position embeddings
            (checkpoint -> ``img_size``, and at run time for other input sizes).
        pretrained_grid: (rows, cols) of the checkpoint's patch grid when it is not square.
        out_type: what :meth:`forward` returns: ``'tokens'`` (N, 1+L, D), after the final
            LayerNorm; ``'cls'`` the CLS token as a (N, D, 1, 1) map (drop-in for
            :class:`ReIDBaseline`'s pooling neck); ``'featmap'`` the patch tokens as a
            (N, D, rows, cols) map.
        init_cfg: ``dict(type='Pretrained', checkpoint=LOCAL_PATH)`` with a timm- or
            torchvision-layout ImageNet ViT state_dict (converted on load).

    :meth:`forward_tokens` also returns the attention logits of the requested layers.

    Examples::
        >>> vit = ReIDViT(arch='cpu', img_size=(64, 32), patch_size=16, stride=12)
        >>> tokens, logits = vit.forward_tokens(torch.zeros(2, 3, 64, 32), attn_layers=[-1])
        >>> tokens.shape, logits[0].shape   # 5 x 2 grid
        (torch.Size([2, 11, 128]), torch.Size([2, 4, 11, 11]))
    """

    init_cfg_field = 'model.backbone.init_cfg.checkpoint'
    ignored_checkpoint_prefixes = ('head.', 'heads.', 'head_dist.', 'pre_logits.', 'fc_norm.')

    def __init__(self, arch: Union[str, dict] = 'base', img_size: Sequence[int] = (256, 128),
                 patch_size: int = 16, stride: int = 12, in_channels: int = 3,
                 qkv_bias: bool = True, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.1, pos_embed_interp: str = 'bicubic',
                 pretrained_grid: Optional[Sequence[int]] = None, out_type: str = 'tokens',
                 layer_norm_eps: float = 1e-6,
                 init_cfg: Union[dict, List[dict], None] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch not in ARCH_SETTINGS:
                raise ValueError(f'ReIDViT: unknown arch {arch!r}; choose one of '
                                 f'{sorted(ARCH_SETTINGS)} or pass a dict.')
            arch_cfg = dict(ARCH_SETTINGS[arch])
        else:
            arch_cfg = dict(ARCH_SETTINGS['base'], **arch)
        if out_type not in OUT_TYPES:
            raise ValueError(f'ReIDViT: out_type must be one of {OUT_TYPES}, got {out_type!r}.')
        if stride > patch_size:
            raise ValueError(f'ReIDViT: stride={stride} > patch_size={patch_size} skips pixels.')
        if pos_embed_interp not in ('bicubic', 'bilinear'):
            raise ValueError("ReIDViT: pos_embed_interp must be 'bicubic' or 'bilinear'.")
        self.arch = arch_cfg
        self.embed_dims = arch_cfg['embed_dims']
        self.depth = arch_cfg['depth']
        self.num_heads = arch_cfg['num_heads']
        self.out_channels = self.embed_dims
        self.img_size = tuple(int(s) for s in img_size)
        self.patch_size = patch_size
        self.stride = stride
        self.grid_size = grid_size(self.img_size, patch_size, stride)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.pos_embed_interp = pos_embed_interp
        self.pretrained_grid = tuple(pretrained_grid) if pretrained_grid else None
        self.out_type = out_type

        self.patch_embed = PatchEmbed(patch_size, stride, in_channels, self.embed_dims)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.num_patches, self.embed_dims))
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, self.depth).tolist()
        self.layers = nn.ModuleList([
            TransformerLayer(self.embed_dims, self.num_heads, arch_cfg['mlp_ratio'], qkv_bias,
                             drop_rate, attn_drop_rate, dpr[i], layer_norm_eps)
            for i in range(self.depth)])
        self.ln_final = nn.LayerNorm(self.embed_dims, eps=layer_norm_eps)
        self._init_parameters()

    def _init_parameters(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # ------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """Check the ``Pretrained`` checkpoint is a local file (with a ViT-specific hint)."""
        if not self._is_init:
            for cfg in pretrained_init_cfgs(self.init_cfg):
                try:
                    check_local_checkpoint(cfg.get('checkpoint'), self.init_cfg_field)
                except FileNotFoundError as e:
                    msg = str(e).split(' Set ')[0]
                    raise FileNotFoundError(
                        f'{msg} Put the ImageNet ViT weights at that path or set '
                        f'{self.init_cfg_field} to where they are (init_cfg=None trains from '
                        f'scratch). {_VIT_HINT} Nothing is downloaded.') from None
        super().init_weights()

    def convert_checkpoint_keys(self, state_dict: Dict, prefix: str) -> None:
        """Load-time conversion: timm/torchvision keys -> ours, drop heads, resize the position
        embedding to this grid and the patch kernel to ``patch_size``."""
        nested = state_dict.get(prefix + 'model')
        if isinstance(nested, dict):  # {'model': state_dict} (DeiT releases)
            del state_dict[prefix + 'model']
            state_dict.update({prefix + k: v for k, v in nested.items()})
        local = {k[len(prefix):]: k for k in state_dict if k.startswith(prefix)}
        if not local:
            return
        try:
            layout = detect_vit_layout(local)
        except ValueError:
            return  # not ViT weights: leave the keys for MMEngine to report
        if layout != 'asym':
            sub = {k: state_dict.pop(full) for k, full in local.items()}
            converted = convert_vit_state_dict(sub, layout)
            state_dict.update({prefix + k: v for k, v in converted.items()})
        super().convert_checkpoint_keys(state_dict, prefix)
        key = prefix + 'pos_embed'
        if key in state_dict and state_dict[key].shape != self.pos_embed.shape:
            pe = state_dict[key]
            extra, src = _infer_square_grid(pe.shape[1], self.pretrained_grid)
            pe = resize_pos_embed(pe, src, self.grid_size, extra, self.pos_embed_interp)
            if extra == 0:  # no CLS row in the checkpoint: start it at zero
                pe = torch.cat([pe.new_zeros(1, 1, pe.shape[2]), pe], dim=1)
            elif extra > 1:
                pe = torch.cat([pe[:, :1], pe[:, extra:]], dim=1)
            state_dict[key] = pe
        key = prefix + 'patch_embed.proj.weight'
        kernel = self.patch_embed.proj.weight.shape[-2:]
        if key in state_dict and state_dict[key].shape[-2:] != kernel:
            w = state_dict[key]
            # Approximate: keeps the response to smooth inputs (rescaled by the area ratio).
            ratio = (w.shape[-2] * w.shape[-1]) / float(self.patch_size ** 2)
            state_dict[key] = F.interpolate(w.float(), size=(self.patch_size, self.patch_size),
                                            mode='bicubic', align_corners=False).to(w.dtype) * ratio

    # ------------------------------------------------------------ forward
    def _pos_embed_for(self, grid: Tuple[int, int]) -> torch.Tensor:
        if grid == self.grid_size:
            return self.pos_embed
        return resize_pos_embed(self.pos_embed, self.grid_size, grid, 1, self.pos_embed_interp)

    def _layer_indices(self, layers: Optional[Sequence[int]]) -> List[int]:
        out = []
        for i in layers or ():
            j = i + self.depth if i < 0 else i
            if not 0 <= j < self.depth:
                raise ValueError(f'ReIDViT: attention layer {i} out of range for depth '
                                 f'{self.depth}.')
            out.append(j)
        return out

    def forward_tokens(self, x: torch.Tensor, attn_layers: Optional[Sequence[int]] = None
                       ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Images (N, C, H, W) -> ``(tokens, attn_logits)``.

        ``tokens``: (N, 1 + L, D) after the final LayerNorm, CLS first, patches row-major.
        ``attn_logits``: for each index of ``attn_layers`` (negative counts from the end, in
        the given order) the pre-softmax attention ``q k^T / sqrt(d_head)`` of that layer,
        (N, heads, 1 + L, 1 + L). Layers not requested use fused attention.
        """
        wanted = self._layer_indices(attn_layers)
        x, grid = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.pos_drop(x + self._pos_embed_for(grid))
        found: Dict[int, torch.Tensor] = {}
        for i, layer in enumerate(self.layers):
            x, logits = layer(x, return_logits=i in wanted)
            if logits is not None:
                found[i] = logits
        return self.ln_final(x), [found[i] for i in wanted]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, _ = self.forward_tokens(x)
        if self.out_type == 'tokens':
            return tokens
        if self.out_type == 'cls':
            return tokens[:, 0, :, None, None]
        rows, cols = grid_size(tuple(x.shape[-2:]), self.patch_size, self.stride)
        return tokens[:, 1:].transpose(1, 2).reshape(x.shape[0], self.embed_dims, rows, cols)
