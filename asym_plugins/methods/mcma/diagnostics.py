"""Does a trained MCMA decoder read its text prompt? (docs/mcma.md, "Investigations")

Text-prompted masked reconstruction (eq. for the self-instance loss in docs/mcma.md) only
teaches the image/text encoders something about identity when the caption changes the
reconstruction. :func:`prompt_reliance` masks each test image once and reconstructs it three
times with the same visible patches, prompted by

* ``own``: the image's own caption (its first caption),
* ``other id``: the caption of an image of another identity in the same batch,
* ``zero``: an all-zero prompt,

and reports the masked-patch MSE of each plus how often ``own`` beats ``other id``. A decoder
that uses the caption's identity-specific content has ``own`` clearly below ``other id``; one
that uses the prompt only as a generic bias has ``own ~= other id < zero``.
"""
from typing import Dict, Iterable, Optional

import torch

from .losses import normalized_pixel_targets, patchify, random_patch_mask
from .modules import vit_visible_tokens

PROMPTS = ('own', 'other id', 'zero')


def other_identity_rows(pids: torch.Tensor) -> torch.Tensor:
    """For each row ``i`` the next row (cyclically) whose pid differs from ``pids[i]``; raises
    ``ValueError`` when the batch holds a single identity."""
    n = pids.numel()
    if int(torch.unique(pids).numel()) < 2:
        raise ValueError(f'prompt_reliance: a batch of {n} images has one identity; the '
                         "'other id' prompt needs >= 2 identities per batch (use a larger "
                         'test batch_size).')
    out = torch.empty(n, dtype=torch.long)
    for i in range(n):
        j = (i + 1) % n
        while pids[j] == pids[i]:
            j = (j + 1) % n
        out[i] = j
    return out


@torch.no_grad()
def prompt_reliance(model, batches: Iterable[dict], seed: int = 0,
                    max_batches: Optional[int] = None) -> Dict[str, float]:
    """Masked-patch MSE of an MCMA model's decoder under the three prompts of the module doc.

    Args:
        model: an :class:`~asym_plugins.methods.mcma.MCMAModel` with a decoder (eval mode is
            set here).
        batches: data loader batches (``inputs`` + ``data_samples`` with captions and pids),
            passed through ``model.data_preprocessor``.
        seed: seed of the random patch masks (the same mask serves the three prompts).
        max_batches: stop after this many batches (default: all).

    Returns:
        ``{'own', 'other id', 'zero'}``: mean masked-patch MSE over images (per image: mean
        over its masked patches of the per-patch pixel MSE, on the model's reconstruction
        target), ``'own < other id'``: share of images (%) whose own caption reconstructs them
        better, and ``'images'``.
    """
    if getattr(model, 'decoder', None) is None:
        raise ValueError('prompt_reliance: the model has no decoder (model.shared_decoder is '
                         'False); reconstruction needs it.')
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    errs = {k: [] for k in PROMPTS}
    for b, batch in enumerate(batches):
        if max_batches is not None and b >= max_batches:
            break
        data = model.data_preprocessor(batch, False)
        x, samples = data['inputs'], data['data_samples']
        ids, mask, _ = model._sample_tokens(samples, training=True)  # first caption each
        if ids is None:
            raise ValueError('prompt_reliance: the batch carries no captions (the test '
                             'pipeline needs TokenizeCaptions).')
        txt = model.encode_text(input_ids=ids, attention_mask=mask)
        pids = torch.tensor([int(s.gt_label.item()) if 'gt_label' in s else s.metainfo['pid']
                             for s in samples])
        other = other_identity_rows(pids).to(txt.device)
        vit = model.image_encoder
        keep, _, masked = random_patch_mask(x.shape[0], vit.num_patches, model.mask_ratio,
                                            generator=gen)
        keep, masked = keep.to(x.device), masked.to(x.device)
        tokens, _ = vit_visible_tokens(vit, x, keep)
        visible = model.image_proj(tokens[:, 1:])
        target = patchify(x, vit.patch_size, vit.stride)
        if model.norm_pix:
            target = normalized_pixel_targets(target)
        for name, prompt in zip(PROMPTS, (txt, txt[other], torch.zeros_like(txt))):
            pred = model.decoder.reconstruct(visible, keep, prompt)
            per_patch = ((pred - target) ** 2).mean(-1)
            errs[name].append((per_patch * masked).sum(1) / masked.sum(1))
    if not errs['own']:
        raise ValueError('prompt_reliance: no batch to evaluate.')
    cat = {k: torch.cat(v) for k, v in errs.items()}
    out = {k: float(v.mean()) for k, v in cat.items()}
    out['own < other id'] = float((cat['own'] < cat['other id']).float().mean() * 100)
    out['images'] = int(cat['own'].numel())
    return out
