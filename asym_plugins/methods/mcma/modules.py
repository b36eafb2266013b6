"""MCMA's modules: the modality-shared decoder and the ViT pass over visible patches only."""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from asym_plugins.models.backbones.vit import resize_pos_embed

IMAGE, TEXT = 0, 1


def vit_visible_tokens(vit: nn.Module, images: torch.Tensor,
                       keep_idx: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Tuple]:
    """Encode only the visible patches of ``images`` with a :class:`ReIDViT` (MAE's encoder).

    The patches are embedded and given their position embeddings, the masked ones are dropped,
    and the CLS token plus the ``V`` kept patches run through the ViT's layers and final
    LayerNorm. With ``keep_idx=None`` (all patches) this equals ``vit.forward_tokens(images)``.

    Uses the ViT's public attributes ``patch_embed``, ``cls_token``, ``pos_embed``,
    ``grid_size``, ``pos_embed_interp``, ``pos_drop``, ``layers`` and ``ln_final``.

    Shapes: ``images (N, C, H, W)``, ``keep_idx (N, V)`` -> ``(tokens (N, 1 + V, D), grid)``.
    """
    for name in ('patch_embed', 'cls_token', 'pos_embed', 'layers', 'ln_final', 'grid_size'):
        if not hasattr(vit, name):
            raise TypeError(f'MCMA masked reconstruction needs a ReIDViT image encoder '
                            f'(model.image_encoder); {type(vit).__name__} has no {name!r}.')
    x, grid = vit.patch_embed(images)
    pos = vit.pos_embed
    if tuple(grid) != tuple(vit.grid_size):
        pos = resize_pos_embed(pos, vit.grid_size, grid, 1,
                               getattr(vit, 'pos_embed_interp', 'bicubic'))
    x = x + pos[:, 1:]
    if keep_idx is not None:
        x = torch.gather(x, 1, keep_idx[..., None].expand(-1, -1, x.shape[-1]))
    cls = (vit.cls_token + pos[:, :1]).expand(x.shape[0], -1, -1)
    x = vit.pos_drop(torch.cat([cls, x], dim=1))
    for layer in vit.layers:
        x, _ = layer(x)
    return vit.ln_final(x), grid


class ModalitySharedDecoder(nn.Module):
    """A small pre-norm transformer whose weights serve both modalities (MCMA's ``E_rec``).

    * :meth:`forward_image` / :meth:`forward_text`: the joint-space tokens of one modality
      (plus a learnt modality embedding, and grid position embeddings for images) -> tokens
      (the matching path, "baseline + modality-shared decoder");
    * :meth:`reconstruct`: ``E_rec({Z^v_um, Z^m, z^t_glo})``: the visible patch tokens at their
      positions, a learnt mask token ``Z^m`` at every masked position, and the global text
      feature as one extra token -> predicted pixels of every patch (MAE-style decoder).

    Args:
        dims: joint-space width D.
        num_patches: patches of the image grid L (position embeddings ``(1 + L, D)``).
        patch_pixels: values per reconstructed patch (``C * p * p``); None builds no
            reconstruction part (mask token, pixel head): the matching path only.
        depth, num_heads, mlp_ratio, dropout: transformer layers.
        prompt: how ``z^t_glo`` enters :meth:`reconstruct`: ``'token'`` (one extra token, the
            slides' set ``{Z^v_um, Z^m, z^t_glo}``) or ``'token+mask'`` (also added, through a
            linear map, to every mask token, so that each masked position reads the caption
            directly [ours]).
    """

    PROMPTS = ('token', 'token+mask')

    def __init__(self, dims: int, num_patches: int, patch_pixels: Optional[int], depth: int = 2,
                 num_heads: int = 8, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 prompt: str = 'token') -> None:
        super().__init__()
        if prompt not in self.PROMPTS:
            raise ValueError(f'MCMA decoder: prompt must be one of {self.PROMPTS}, got '
                             f'{prompt!r} (model.decoder.prompt).')
        self.prompt = prompt
        if dims % num_heads:
            raise ValueError(f'MCMA decoder: embed_dims={dims} is not divisible by '
                             f'num_heads={num_heads} (model.decoder.num_heads).')
        self.dims = dims
        self.num_patches = num_patches
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(dims, num_heads, int(dims * mlp_ratio), dropout,
                                       activation='gelu', batch_first=True, norm_first=True)
            for _ in range(depth)])
        self.norm = nn.LayerNorm(dims)
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + num_patches, dims))
        self.modality_embed = nn.Parameter(torch.zeros(2, dims))
        for p in (self.pos_embed, self.modality_embed):
            nn.init.trunc_normal_(p, std=0.02)
        # Reconstruction only (absent parameters cannot sit unused under DDP).
        self.mask_token = self.pixel_head = self.mask_prompt = None
        if patch_pixels is not None:
            self.mask_token = nn.Parameter(torch.zeros(1, 1, dims))
            nn.init.trunc_normal_(self.mask_token, std=0.02)
            self.pixel_head = nn.Linear(dims, patch_pixels)
            if prompt == 'token+mask':
                self.mask_prompt = nn.Linear(dims, dims)

    def _run(self, x: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=padding_mask)
        return self.norm(x)

    def _pos(self, num_tokens: int) -> torch.Tensor:
        if num_tokens != self.pos_embed.shape[1]:
            raise ValueError(f'MCMA decoder: {num_tokens - 1} image patches, but it was built '
                             f'for {self.num_patches}; images must have the size of '
                             'model.image_encoder.img_size.')
        return self.pos_embed

    def forward_image(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(N, 1 + L, D)`` (CLS first) -> ``(N, 1 + L, D)``."""
        return self._run(tokens + self._pos(tokens.shape[1]) + self.modality_embed[IMAGE])

    def forward_text(self, tokens: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(N, T, D)``, ``attention_mask (N, T)`` (1 = token) -> ``(N, T, D)``."""
        return self._run(tokens + self.modality_embed[TEXT], padding_mask=attention_mask == 0)

    def reconstruct(self, visible: torch.Tensor, keep_idx: torch.Tensor,
                    text_global: torch.Tensor) -> torch.Tensor:
        """Predict the pixels of every patch from the visible ones and a text prompt.

        Args:
            visible: ``(N, V, D)`` joint-space tokens of the visible patches (no CLS).
            keep_idx: ``(N, V)`` their grid positions.
            text_global: ``(N, D)`` the global text feature of the prompting caption.

        Returns:
            ``(N, L, patch_pixels)``; only the masked positions are meant to be scored.
        """
        if self.pixel_head is None:
            raise RuntimeError('ModalitySharedDecoder was built without patch_pixels: it has no '
                               'reconstruction head.')
        n, _, d = visible.shape
        full = self.mask_token.expand(n, self.num_patches, d)
        if self.mask_prompt is not None:
            full = full + self.mask_prompt(text_global)[:, None]
        full = full.scatter(1, keep_idx[..., None].expand(-1, -1, d), visible)
        image = full + self.pos_embed[:, 1:] + self.modality_embed[IMAGE]
        prompt = (text_global + self.modality_embed[TEXT])[:, None]
        out = self._run(torch.cat([prompt, image], dim=1))
        return self.pixel_head(out[:, 1:])
