"""Where does SSD drop the distillation targets? (docs/sap.md, "Investigation")

Supervision-signal drop (eq. 6) is meant to drop the targets of redundant patches (background
that resembles many other patches) more often than those on the person. :func:`ssd_region_rates`
encodes images with a trained :class:`~asym_plugins.methods.sap.SAPModel`, computes every
patch's drop probability at one or more SSD temperatures and averages it per region of the
samples' own ``part_mask`` (the synthetic world's exact masks, package label ids: 0 background,
1-5 person parts, 6 occluder); a patch belongs to the region that covers most of its pixels.
"""
from typing import Dict, Iterable, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from .part_targets import ssd_drop_probabilities, ssd_drop_rates

#: region -> package part labels (asym_plugins.data.synthetic PART_NAMES)
REGIONS = {'background': (0, ), 'person': (1, 2, 3, 4, 5), 'occluder': (6, )}


def patch_regions(masks: torch.Tensor, patch_size: int, stride: int) -> torch.Tensor:
    """Label masks (N, H, W) in the package ids -> region index per patch (N, L), the order of
    :data:`REGIONS`, on the ViT's patch grid (row-major; the region covering most pixels)."""
    shares = []
    for labels in REGIONS.values():
        inside = torch.zeros_like(masks, dtype=torch.float32)
        for v in labels:
            inside += (masks == v).float()
        shares.append(F.avg_pool2d(inside[:, None], patch_size, stride).flatten(1))
    return torch.stack(shares, dim=-1).argmax(dim=-1)


@torch.no_grad()
def ssd_region_rates(model, batches: Iterable[dict],
                     temperatures: Sequence[Optional[float]] = (None, ),
                     drop_ratio: Optional[float] = None,
                     max_batches: Optional[int] = None) -> Dict[str, Dict[str, float]]:
    """Mean SSD drop probability per region, for each temperature.

    Args:
        model: a SAPModel (uses ``data_preprocessor``, ``_encode``, ``backbone.patch_size`` /
            ``stride`` and ``ssd_cfg``); eval mode is set here.
        batches: data loader batches whose samples carry ``part_mask``.
        temperatures: SSD temperatures ``t``; None = the default ``t = L``.
        drop_ratio: default the model's ``ssd_cfg['drop_ratio']``.
        max_batches: stop after this many batches (default: all).

    Returns:
        ``{label: {'background', 'person', 'occluder': mean drop probability (%) of that
        region's patches (nan when it has none), 'saturated': % of patches whose probability
        reached 1}}`` with label ``'t=L'`` for None and ``'t=<value>'`` otherwise, plus
        ``'patches'``: the number of patches of each region.
    """
    model.eval()
    cfg = getattr(model, 'ssd_cfg', None) or {}
    ratio = cfg.get('drop_ratio', 0.25) if drop_ratio is None else drop_ratio
    normalize = cfg.get('normalize', True)
    rates = {t: [] for t in temperatures}
    regions = []
    for b, batch in enumerate(batches):
        if max_batches is not None and b >= max_batches:
            break
        data = model.data_preprocessor(batch, False)
        x, samples = data['inputs'], data['data_samples']
        missing = [i for i, s in enumerate(samples) if 'part_mask' not in s]
        if missing:
            raise ValueError(f'ssd_region_rates: {len(missing)} samples have no part_mask; the '
                             'regions come from the exact masks of the synthetic world '
                             "(LoadReIDImage with with_part_mask=True).")
        _, patches, *_ = model._encode(x, ())
        masks = torch.stack([torch.as_tensor(s.part_mask) for s in samples]).to(patches.device)
        if masks.dim() == 4:
            masks = masks[:, 0]
        reg = patch_regions(masks.long(), model.backbone.patch_size, model.backbone.stride)
        if reg.shape != patches.shape[:2]:
            raise ValueError(f'ssd_region_rates: {reg.shape[1]} mask patches vs '
                             f'{patches.shape[1]} tokens; masks must be at the input size.')
        regions.append(reg.flatten())
        for t in temperatures:
            p = ssd_drop_probabilities(patches, normalize, t)
            rates[t].append(ssd_drop_rates(p, ratio).flatten())
    if not regions:
        raise ValueError('ssd_region_rates: no batch to evaluate.')
    reg = torch.cat(regions)
    out: Dict[str, Union[Dict[str, float], Dict[str, int]]] = {}
    for t, parts in rates.items():
        r = torch.cat(parts)
        row = {name: float(r[reg == i].mean() * 100) if bool((reg == i).any()) else float('nan')
               for i, name in enumerate(REGIONS)}
        row['saturated'] = float((r >= 1).float().mean() * 100)
        out['t=L' if t is None else f't={t:g}'] = row
    out['patches'] = {name: int((reg == i).sum()) for i, name in enumerate(REGIONS)}
    return out
