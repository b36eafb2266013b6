"""SAP's distillation losses (``docs/sap.md`` eqs. (3), (4)): patch-patch and proxy-patch
consistency.

Both are row-wise cross-entropies ``-sum_j T[i, j] log S[i, j]`` between a teacher distribution
``T`` and the student's attention distribution ``S``, averaged over the supervised rows. The
slides write ``alpha * sum T log S``; the sign here is the one that makes minimising the loss
pull the attention toward the teacher. For fixed ``T`` the minimum over ``S`` is at ``S = T``
(Gibbs' inequality), where the loss equals the entropy of ``T``.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn

from asym_plugins.registry import MODELS

from .part_targets import proxy_attention_target

HEAD_REDUCES = ('mean', 'per_head')


def attention_distillation_loss(student_logits: torch.Tensor, target: torch.Tensor,
                                row_mask: Optional[torch.Tensor] = None,
                                head_reduce: str = 'mean', eps: float = 1e-8) -> torch.Tensor:
    """Mean over rows (and samples) of ``-sum_j target[i, j] log S[i, j]``.

    ``S`` is the student's attention: ``softmax(student_logits)`` over the last dimension.
    Multi-head logits (N, h, R, C): ``head_reduce='mean'`` compares the head-averaged attention
    with the target (heads may specialise as long as their mean follows the teacher)
    [ours, default]; ``'per_head'`` applies the loss to every head and averages.
    Columns whose student logit is ``-inf`` must have target 0 (they contribute nothing).

    Shapes: ``student_logits`` (N, R, C) or (N, h, R, C); ``target`` (N, R, C) rows summing to
    1; ``row_mask`` (N, R) bool (False rows are not supervised). Returns a scalar; 0 when no row
    is kept.
    """
    if head_reduce not in HEAD_REDUCES:
        raise ValueError(f'head_reduce must be one of {HEAD_REDUCES}, got {head_reduce!r}.')
    if student_logits.dim() == 3:
        student_logits = student_logits.unsqueeze(1)
    if head_reduce == 'mean':
        probs = torch.softmax(student_logits.float(), dim=-1).mean(dim=1)
        log_s = torch.log(probs.clamp_min(eps))  # (N, R, C)
        tgt = target
    else:
        log_s = torch.log_softmax(student_logits.float(), dim=-1)  # (N, h, R, C)
        tgt = target.unsqueeze(1)
    if head_reduce == 'mean':
        ce = -(tgt * log_s).sum(dim=-1)  # log_s is finite (clamped)
    else:
        # -inf logits (masked columns) have target 0 and must contribute 0, not nan.
        ce = -torch.where(tgt > 0, tgt * log_s, torch.zeros_like(log_s)).sum(dim=-1).mean(dim=1)
    if row_mask is None:
        return ce.mean()
    w = row_mask.to(ce.dtype)
    return (ce * w).sum() / w.sum().clamp_min(1.0)


@MODELS.register_module()
class PatchConsistencyDistillLoss(nn.Module):
    """SAP patch-patch consistency:
    ``L_patch = alpha * CE(softmax(A_patch / t), softmax(I W_q (I W_k)^T / sqrt(d)))`` row-wise
    over [CLS; patches], averaged over the distilled layers.

    Args:
        loss_weight: alpha.
        temperature: t of the target softmax; the slides use 1 (A_patch entries lie in [0, 1],
            so t = 1 gives a soft target: a same-part patch weighs e times another) [ours].
        head_reduce: see :func:`attention_distillation_loss`.

    Forward: ``attn_logits`` list of (N, h, 1+L, 1+L); ``a_patch`` (N, 1+L, 1+L); ``keep``
    (N, L) bool, SSD's kept patch rows (the CLS row is always supervised). Returns a scalar.
    """

    def __init__(self, loss_weight: float = 1.0, temperature: float = 1.0,
                 head_reduce: str = 'mean') -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'PatchConsistencyDistillLoss: temperature must be > 0, got '
                             f'{temperature}.')
        self.loss_weight = loss_weight
        self.temperature = temperature
        self.head_reduce = head_reduce

    def forward(self, attn_logits: Sequence[torch.Tensor], a_patch: torch.Tensor,
                keep: Optional[torch.Tensor] = None) -> torch.Tensor:
        if len(attn_logits) == 0:
            raise ValueError('PatchConsistencyDistillLoss: no attention logits (configure at '
                             'least one distilled layer).')
        target = torch.softmax(a_patch.float() / self.temperature, dim=-1)
        row_mask = None
        if keep is not None:
            row_mask = torch.cat([keep.new_ones(keep.shape[0], 1), keep], dim=1)
        losses = [attention_distillation_loss(logits, target, row_mask, self.head_reduce)
                  for logits in attn_logits]
        return torch.stack(losses).mean() * self.loss_weight


@MODELS.register_module()
class ProxyConsistencyDistillLoss(nn.Module):
    """SAP proxy-patch consistency:
    ``L_proxy = alpha * CE(softmax(m_hat^T / t), softmax(Q_proxy (I' W'_k)^T / sqrt(d)))``,
    one row per part (a distribution over the patches).

    SSD-dropped patches are removed from both distributions (target renormalised over the kept
    patches, student logits masked).

    Forward: ``proxy_logits`` (N, h, K, L) or (N, K, L); ``m_hat`` (N, L, K+1); ``keep`` (N, L)
    bool. Returns a scalar.
    """

    def __init__(self, loss_weight: float = 1.0, temperature: float = 1.0,
                 head_reduce: str = 'mean') -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'ProxyConsistencyDistillLoss: temperature must be > 0, got '
                             f'{temperature}.')
        self.loss_weight = loss_weight
        self.temperature = temperature
        self.head_reduce = head_reduce

    def forward(self, proxy_logits: torch.Tensor, m_hat: torch.Tensor,
                keep: Optional[torch.Tensor] = None) -> torch.Tensor:
        target = proxy_attention_target(m_hat.float(), self.temperature, keep)
        if keep is not None:
            mask = ~keep[:, None, :]
            if proxy_logits.dim() == 4:
                mask = mask[:, None]
            proxy_logits = proxy_logits.masked_fill(mask, float('-inf'))
        loss = attention_distillation_loss(proxy_logits, target, None, self.head_reduce)
        return loss * self.loss_weight
