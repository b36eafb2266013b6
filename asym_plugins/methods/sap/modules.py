"""SAP's part branch: learnable part proxies attending to the patches, and MAPR (mutual-absorbing
partition refinement). Pure torch."""
from typing import Optional, Tuple

import torch
import torch.nn as nn


def _linear_heads(x: torch.Tensor, linear: nn.Linear, heads: int) -> torch.Tensor:
    """``linear(x)`` split into heads: (..., T, D) -> (..., heads, T, d)."""
    y = linear(x)
    return y.reshape(*y.shape[:-1], heads, y.shape[-1] // heads).transpose(-3, -2)


class CrossAttention(nn.Module):
    """Multi-head cross-attention ``softmax(q k^T / sqrt(d)) v`` (q from ``query``, k and v from
    ``context``) that also returns its logits.

    SAP attends between a handful of proxies (K = 4-6) and hundreds of patches, so whichever
    side is small is projected and the large side is touched only by products with it, using
    associativity: ``q (X W_k^T + b_k)^T = (q W_k) X^T + q b_k`` and
    ``A (X W_v^T + b_v) = (A X) W_v^T + b_v`` (rows of A sum to 1), and for few keys
    ``(X W_q^T + b_q) k^T = X (W_q^T k^T) + b_q k^T``, ``concat_h(A_h v_h) W_o^T =
    sum_h A_h (v_h W_o,h^T)``. No (patches x D) x (D x D) product is formed: the branch costs
    O(N L K D) instead of O(N L D^2). ``naive=True`` computes the textbook way (for checking).

    Args:
        dims: token width D. num_heads: heads (d = D / heads).
        project_query: apply ``W_q`` to the query; SAP's first proxy step uses the proxies
            themselves as queries (``Q_proxy (I' W'_k)^T``), so it sets False (needs
            ``num_heads == 1`` or the proxies are split into heads as they are).
        out_proj: apply an output projection ``W_o``.

    Forward: ``query`` (N, Q, D) or (Q, D) (shared by the batch), ``context`` (N, C, D) ->
    ``(out (N, Q, D), logits (N, heads, Q, C))``.
    """

    def __init__(self, dims: int, num_heads: int = 1, project_query: bool = True,
                 out_proj: bool = True, qkv_bias: bool = True) -> None:
        super().__init__()
        if dims % num_heads:
            raise ValueError(f'CrossAttention: dims={dims} not divisible by num_heads={num_heads}.')
        self.num_heads = num_heads
        self.head_dims = dims // num_heads
        self.scale = self.head_dims ** -0.5
        self.q = nn.Linear(dims, dims, bias=qkv_bias) if project_query else None
        self.k = nn.Linear(dims, dims, bias=qkv_bias)
        self.v = nn.Linear(dims, dims, bias=qkv_bias)
        self.proj = nn.Linear(dims, dims) if out_proj else None

    def _heads_w(self, linear: nn.Linear) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Weight (heads, d, D) and bias (heads, d) of a projection, per head."""
        w = linear.weight.reshape(self.num_heads, self.head_dims, -1)
        b = None if linear.bias is None else linear.bias.reshape(self.num_heads, self.head_dims)
        return w, b

    def _query_heads(self, query: torch.Tensor) -> torch.Tensor:
        if self.q is not None:
            return _linear_heads(query, self.q, self.num_heads)
        return query.reshape(*query.shape[:-1], self.num_heads, self.head_dims).transpose(-3, -2)

    def forward(self, query: torch.Tensor, context: torch.Tensor, naive: bool = False
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        n = context.shape[0]
        if query.dim() == 2:
            query = query.unsqueeze(0).expand(n, -1, -1)
        if naive:
            return self._naive(query, context)
        if query.shape[1] <= context.shape[1]:
            return self._few_queries(query, context)
        return self._few_keys(query, context)

    def _naive(self, query, context):
        q = self._query_heads(query)
        k = _linear_heads(context, self.k, self.num_heads)
        v = _linear_heads(context, self.v, self.num_heads)
        logits = (q @ k.transpose(-2, -1)) * self.scale
        out = logits.softmax(-1) @ v
        out = out.transpose(1, 2).reshape(query.shape[0], query.shape[1], -1)
        return (self.proj(out) if self.proj is not None else out), logits

    def _few_queries(self, query, context):
        q = self._query_heads(query)                              # (N, h, Q, d)
        wk, bk = self._heads_w(self.k)
        q_eff = torch.einsum('nhqd,hdD->nhqD', q, wk)              # (N, h, Q, D)
        logits = q_eff @ context.unsqueeze(1).transpose(-2, -1)    # (N, h, Q, C)
        if bk is not None:
            logits = logits + torch.einsum('nhqd,hd->nhq', q, bk).unsqueeze(-1)
        logits = logits * self.scale
        pooled = logits.softmax(-1) @ context.unsqueeze(1)         # (N, h, Q, D)
        wv, bv = self._heads_w(self.v)
        out = torch.einsum('nhqD,hdD->nhqd', pooled, wv)
        if bv is not None:
            out = out + bv[None, :, None, :]
        out = out.transpose(1, 2).reshape(query.shape[0], query.shape[1], -1)
        return (self.proj(out) if self.proj is not None else out), logits

    def _few_keys(self, query, context):
        k = _linear_heads(context, self.k, self.num_heads)        # (N, h, C, d)
        v = _linear_heads(context, self.v, self.num_heads)        # (N, h, C, d)
        if self.q is None:
            q = self._query_heads(query)
            logits = q @ k.transpose(-2, -1)
        else:
            wq, bq = self._heads_w(self.q)
            m = torch.einsum('hdD,nhcd->nhDc', wq, k)              # (N, h, D, C)
            logits = query.unsqueeze(1) @ m                        # (N, h, Q, C)
            if bq is not None:
                logits = logits + torch.einsum('hd,nhcd->nhc', bq, k).unsqueeze(2)
        logits = logits * self.scale
        attn = logits.softmax(-1)
        if self.proj is None:
            out = (attn @ v).transpose(1, 2).reshape(query.shape[0], query.shape[1], -1)
            return out, logits
        wo = self.proj.weight.reshape(-1, self.num_heads, self.head_dims)  # (D, h, d)
        vo = torch.einsum('nhcd,Dhd->nhcD', v, wo)                  # (N, h, C, D)
        out = (attn @ vo).sum(1)
        if self.proj.bias is not None:
            out = out + self.proj.bias
        return out, logits


class PartProxyModule(nn.Module):
    """K part proxies over the patch tokens, with optional MAPR; outputs the part features.

    1. Proxy -> patch (slides): ``DA = softmax(Q_proxy (I' W'_k)^T / sqrt(d)) I' W'_v``; the
       logits of this step are what ``L_proxy`` supervises.
    2. MAPR (``mapr=True``) [slides: two-way cross-attention; the composition is ours]:
       patch -> proxy, the patches absorb the proxies (patches Q; proxies K, V):
       ``I'' = I' + CA(I', LN(P))``; then proxy -> patch again on the refined patches,
       ``P <- P + CA(LN(P), I'')``. The refined partition is not supervised, so it can follow
       the patches' own similarity where the teacher is wrong (competition).
    3. ``P <- P + FFN(LN(P))``, final LayerNorm: the K part features (N, K, D).

    The patch tokens enter already layer-normalised (the ViT's final LayerNorm), so no further
    normalisation touches the (N, L, D) side: with :class:`CrossAttention`'s associativity the
    whole branch costs O(N L K D).

    Args:
        dims: D. num_parts: K. num_heads: heads of every cross-attention.
        mapr: enable step 2. ffn_ratio: hidden width of the FFN / D.
    """

    def __init__(self, dims: int, num_parts: int, num_heads: int = 1, mapr: bool = True,
                 ffn_ratio: float = 2.0) -> None:
        super().__init__()
        self.num_parts = num_parts
        self.mapr = mapr
        self.proxies = nn.Parameter(torch.empty(num_parts, dims))
        nn.init.trunc_normal_(self.proxies, std=0.02)
        self.proxy_to_patch = CrossAttention(dims, num_heads, project_query=False, out_proj=False)
        if mapr:
            self.ln_proxy = nn.LayerNorm(dims)
            self.patch_to_proxy = CrossAttention(dims, num_heads)
            self.ln_proxy2 = nn.LayerNorm(dims)
            self.refine = CrossAttention(dims, num_heads)
        self.ln_ffn = nn.LayerNorm(dims)
        hidden = int(dims * ffn_ratio)
        self.ffn = nn.Sequential(nn.Linear(dims, hidden), nn.GELU(), nn.Linear(hidden, dims))
        self.ln_out = nn.LayerNorm(dims)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, patches: torch.Tensor, naive: bool = False
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``patches`` (N, L, D) -> ``(parts (N, K, D), proxy_logits (N, heads, K, L))``."""
        parts, logits = self.proxy_to_patch(self.proxies, patches, naive)
        if self.mapr:
            absorbed, _ = self.patch_to_proxy(patches, self.ln_proxy(parts), naive)
            delta, _ = self.refine(self.ln_proxy2(parts), patches + absorbed, naive)
            parts = parts + delta
        parts = parts + self.ffn(self.ln_ffn(parts))
        return self.ln_out(parts), logits
