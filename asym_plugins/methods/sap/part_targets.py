"""SAP's teacher side: part masks -> patch part distributions, foreground flags, the patch
attention target, and SSD's supervision drop (``docs/sap.md`` eqs. (1), (2), (6)). Pure torch.

Label spaces. Teachers deliver masks in the package's part-label ids (CONTRACTS.md): 0
background, 1 head, 2 upper body, 3 lower body, 4 shoes, 5 bag, 6 occluder. A model with K parts
maps them to K + 1 columns (column 0 = background) with a ``label_map`` (a tuple indexed by the
label id); ids outside the map (e.g. 255 = ignore) count as background.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

#: Default grouping of the package's 7 label ids into K parts (+ background column 0), by K.
#: The occluder is background (it is not the person: its patches must not become a part);
#: the bag joins the upper body unless K = 5. [ours]
DEFAULT_LABEL_MAPS: Dict[int, Tuple[int, ...]] = {
    2: (0, 1, 1, 2, 2, 1, 0),   # upper half (head, torso, bag) / lower half (legs, shoes)
    3: (0, 1, 2, 3, 3, 2, 0),   # head / upper / lower + shoes
    4: (0, 1, 2, 3, 4, 2, 0),   # head / upper (+bag) / lower / shoes
    5: (0, 1, 2, 3, 4, 5, 0),   # head / upper / lower / shoes / bag
}
BACKGROUND = 0


def default_label_map(num_parts: int) -> Tuple[int, ...]:
    if num_parts not in DEFAULT_LABEL_MAPS:
        raise ValueError(f'No default label map for num_parts={num_parts} (have '
                         f'{sorted(DEFAULT_LABEL_MAPS)}); set part_label_map, a tuple giving for '
                         'each label id 0..6 its part column (0 = background).')
    return DEFAULT_LABEL_MAPS[num_parts]


def map_part_labels(masks: torch.Tensor, label_map: Sequence[int]) -> torch.Tensor:
    """Label ids (N, H, W) -> part columns (N, H, W) through ``label_map``; unknown ids -> 0."""
    lut = torch.as_tensor(list(label_map), dtype=torch.long, device=masks.device)
    masks = masks.long()
    inside = (masks >= 0) & (masks < lut.numel())
    return torch.where(inside, lut[masks.clamp(0, lut.numel() - 1)], torch.zeros_like(masks))


def patch_part_distribution(part_columns: torch.Tensor, num_parts: int, patch_size: int,
                            stride: int, lam: float = 10.0, pool: str = 'mean') -> torch.Tensor:
    """SAP ``m_hat = softmax(lambda * sum_{i,j in patch} G_oh(m)[i, j])`` (slides).

    ``G_oh`` is the one-hot of each pixel's part column (K + 1 channels), summed over the
    pixels of each (possibly overlapping) ``patch_size`` window taken every ``stride`` pixels,
    patches row-major as in the ViT. ``pool='sum'`` is the slide's literal sum; ``'mean'``
    divides the counts by ``patch_size ** 2`` (fractions in [0, 1]) so that ``lam`` does not
    depend on the patch size [ours, default]. ``'sum'`` with ``lam`` equals ``'mean'`` with
    ``lam * patch_size ** 2``.

    Shapes: ``part_columns`` (N, H, W) long in [0, K] -> (N, L, K + 1).
    """
    if pool not in ('mean', 'sum'):
        raise ValueError(f"patch_part_distribution: pool must be 'mean' or 'sum', got {pool!r}.")
    cols = part_columns.long().clamp(0, num_parts).unsqueeze(1)
    onehot = torch.zeros(cols.shape[0], num_parts + 1, *cols.shape[2:], device=cols.device)
    onehot.scatter_(1, cols, 1.0)  # (N, K+1, H, W)
    pooled = F.avg_pool2d(onehot, kernel_size=patch_size, stride=stride)  # (N, K+1, gh, gw)
    if pool == 'sum':
        pooled = pooled * float(patch_size * patch_size)
    pooled = pooled.flatten(2).transpose(1, 2)  # (N, L, K+1)
    return torch.softmax(lam * pooled, dim=-1)


def foreground_flag(m_hat: torch.Tensor, gamma: float = 0.5,
                    background: int = BACKGROUND) -> torch.Tensor:
    """SAP ``m_f = 1[m_hat[:, B] < gamma]``: (N, L, K+1) -> (N, L) float in {0, 1}."""
    return (m_hat[..., background] < gamma).to(m_hat.dtype)


def patch_attention_target(m_hat: torch.Tensor, m_f: torch.Tensor) -> torch.Tensor:
    """SAP ``A_patch = [[1, m_f^T], [m_f, m_hat m_hat^T]]`` over [CLS; patches].

    Shapes: ``m_hat`` (N, L, K+1), ``m_f`` (N, L) -> (N, 1 + L, 1 + L).
    """
    n, length, _ = m_hat.shape
    out = m_hat.new_empty(n, 1 + length, 1 + length)
    out[:, 0, 0] = 1.0
    out[:, 0, 1:] = m_f
    out[:, 1:, 0] = m_f
    out[:, 1:, 1:] = m_hat @ m_hat.transpose(1, 2)
    return out


def proxy_attention_target(m_hat: torch.Tensor, temperature: float = 1.0,
                           keep: Optional[torch.Tensor] = None,
                           background: int = BACKGROUND) -> torch.Tensor:
    """SAP proxy target ``softmax(m_hat^T / t)`` per part over the patches (background column
    left out). Patches with ``keep`` False (SSD) get probability 0, the rest renormalised.

    Shapes: ``m_hat`` (N, L, K+1), ``keep`` (N, L) bool -> (N, K, L).
    """
    cols = [c for c in range(m_hat.shape[-1]) if c != background]
    logits = m_hat[..., cols].transpose(1, 2) / temperature
    if keep is not None:
        logits = logits.masked_fill(~keep[:, None, :], float('-inf'))
    return torch.softmax(logits, dim=-1)


def ssd_drop_probabilities(patch_tokens: torch.Tensor, normalize: bool = True,
                           temperature: Optional[float] = None) -> torch.Tensor:
    """SSD ``p(i) = softmax_i(sum_j T_srd[i, j] / t)`` with ``T_srd = I' I'^T``.

    Patches that resemble many others (repeated background, large uniform regions) are dropped
    more often. With ``normalize`` the tokens are L2-normalised first (``T_srd`` = cosine
    similarities) and the default ``t`` is the number of patches L (softmax of the mean cosine
    similarity) [ours: the raw sum over 210 patches would put all mass on one patch].

    Shapes: (N, L, D) -> (N, L), rows sum to 1. No gradient flows.
    """
    with torch.no_grad():
        tokens = F.normalize(patch_tokens.float(), dim=-1) if normalize else patch_tokens.float()
        row_sums = (tokens @ tokens.transpose(1, 2)).sum(dim=-1)
        t = float(tokens.shape[1]) if temperature is None else float(temperature)
        return torch.softmax(row_sums / t, dim=-1)


def ssd_drop_rates(drop_prob: torch.Tensor, drop_ratio: float) -> torch.Tensor:
    """Per-patch SSD drop probability ``min(1, drop_ratio * L * p(i))`` (eq. 6 with our scaling:
    about ``drop_ratio * L`` targets dropped per image). Shapes: (N, L) -> (N, L)."""
    if not 0.0 <= drop_ratio <= 1.0:
        raise ValueError(f'SSD drop_ratio must be in [0, 1], got {drop_ratio}.')
    return (drop_prob * drop_ratio * drop_prob.shape[-1]).clamp(max=1.0)


def ssd_keep_mask(drop_prob: torch.Tensor, drop_ratio: float,
                  generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Sample which patches keep their distillation target (SSD).

    Patch i is dropped independently with probability ``min(1, drop_ratio * L * p(i))``, so on
    average ``drop_ratio * L`` patches of an image lose their target and the drop frequency of
    each patch is proportional to ``p(i)`` (exactly, while no probability reaches 1). An image
    whose every patch was drawn keeps its least probable one.

    Shapes: (N, L) -> (N, L) bool (True = keep).
    """
    rate = ssd_drop_rates(drop_prob, drop_ratio)
    device = generator.device if generator is not None else rate.device
    u = torch.rand(rate.shape, generator=generator, device=device).to(rate)
    keep = u >= rate
    # An image never loses every target: its least redundant patch stays supervised.
    none_kept = ~keep.any(dim=-1)
    if bool(none_kept.any()):
        keep[none_kept, drop_prob[none_kept].argmin(dim=-1)] = True
    return keep
