"""MCMA's equations as small pure-torch functions (``docs/mcma.md``, Method).

Nothing here imports MMEngine or transformers: :class:`~.model.MCMAModel` and the unit tests
call the same functions.

* global image-text matching: :func:`sdm_loss` (IRRA's similarity distribution matching) and
  :func:`infonce_loss` (CLIP's symmetric InfoNCE);
* ID loss on both modalities: :func:`identity_loss`;
* text-prompted masked reconstruction (MAE-style): :func:`random_patch_mask`,
  :func:`patchify`, :func:`normalized_pixel_targets`, :func:`masked_patch_mse`,
  :func:`cross_instance_partners`;
* cross-identity bisimulation: :func:`identity_means`, :func:`identity_relation_vectors`,
  :class:`DeviationPredictor`, :func:`bisimulation_scores`, :func:`bisimulation_loss`.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- global matching
def sdm_loss(image_feats: torch.Tensor, text_feats: torch.Tensor, labels: torch.Tensor,
             temperature: float = 0.02, eps: float = 1e-8) -> torch.Tensor:
    """Similarity distribution matching (IRRA, Jiang & Ye 2023, eq. 3-5).

    With cosine similarities ``S_ij = cos(v_i, t_j) / temperature`` over a batch of N
    image-text pairs, the predicted distribution of image i over texts is ``p_i = softmax(S_i:)``
    and the true one ``q_ij = y_ij / sum_k y_ik`` with ``y_ij = [label_i == label_j]``.
    ``L = mean_i KL(p_i || q_i) + mean_j KL(p'_j || q_j)`` where ``p'`` is the softmax of the
    text-to-image rows ``S^T``.

    Shapes: ``image_feats (N, D)``, ``text_feats (N, D)`` (row i = pair i), ``labels (N,)``
    -> scalar.
    """
    v = F.normalize(image_feats, dim=1)
    t = F.normalize(text_feats, dim=1)
    logits = v @ t.t() / temperature
    same = (labels[:, None] == labels[None, :]).to(logits.dtype)
    log_q = torch.log(same / same.sum(dim=1, keepdim=True) + eps)

    def kl_rows(rows: torch.Tensor) -> torch.Tensor:
        log_p = rows.log_softmax(dim=1)
        return (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()

    # y is symmetric, so the same q serves both directions.
    return kl_rows(logits) + kl_rows(logits.t())


def infonce_loss(image_feats: torch.Tensor, text_feats: torch.Tensor,
                 labels: Optional[torch.Tensor] = None,
                 temperature: float = 0.02) -> torch.Tensor:
    """Symmetric InfoNCE of CLIP (Radford et al. 2021): pair i is the only positive of row i.

    ``L = (CE(S, arange(N)) + CE(S^T, arange(N))) / 2`` with ``S_ij = cos(v_i, t_j) / T``.
    ``labels`` is accepted for a common signature and ignored (other pairs of the same identity
    are negatives here; use :func:`sdm_loss` to treat them as positives).

    Shapes: ``(N, D), (N, D)`` -> scalar.
    """
    v = F.normalize(image_feats, dim=1)
    t = F.normalize(text_feats, dim=1)
    logits = v @ t.t() / temperature
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


MATCHING_LOSSES = dict(sdm=sdm_loss, infonce=infonce_loss)


def identity_loss(image_logits: torch.Tensor, text_logits: torch.Tensor, labels: torch.Tensor,
                  label_smoothing: float = 0.0) -> torch.Tensor:
    """ID loss of both modalities through one shared classifier (as IRRA):
    ``(CE(W v, y) + CE(W t, y)) / 2``. Shapes: ``(N, C), (N, C), (N,)`` -> scalar."""
    return 0.5 * (F.cross_entropy(image_logits, labels, label_smoothing=label_smoothing)
                  + F.cross_entropy(text_logits, labels, label_smoothing=label_smoothing))


# ---------------------------------------------------------------- masked reconstruction
def random_patch_mask(batch_size: int, num_patches: int, mask_ratio: float,
                      device=None, generator: Optional[torch.Generator] = None
                      ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample uniform random masking (MAE, He et al. 2022).

    ``round(num_patches * mask_ratio)`` patches are masked in every sample, at least one patch
    stays visible and at least one is masked.

    Returns:
        ``(keep_idx (N, V) long, mask_idx (N, M) long, mask (N, L) bool)``: indices of the
        visible and masked patches (each sorted ascending), and ``mask[i, l] = True`` when
        patch l of sample i is masked. ``V + M = L``.
    """
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f'mask_ratio={mask_ratio} must be in (0, 1) (model.mask_ratio).')
    num_masked = min(max(int(round(num_patches * mask_ratio)), 1), num_patches - 1)
    noise = torch.rand(batch_size, num_patches, device=device, generator=generator)
    order = noise.argsort(dim=1)
    mask_idx = order[:, :num_masked].sort(dim=1).values
    keep_idx = order[:, num_masked:].sort(dim=1).values
    mask = torch.zeros(batch_size, num_patches, dtype=torch.bool, device=noise.device)
    mask.scatter_(1, mask_idx, True)
    return keep_idx, mask_idx, mask


def patchify(images: torch.Tensor, patch_size: int, stride: Optional[int] = None
             ) -> torch.Tensor:
    """Images ``(N, C, H, W)`` -> pixel patches ``(N, L, C * p * p)`` in the row-major order of
    a ViT patch grid with kernel ``patch_size`` and ``stride`` (default: non-overlapping).

    Patch l holds exactly the pixels that the ViT's patch-embedding window l sees (channel
    major, then rows, then columns), so with ``stride < patch_size`` neighbouring targets
    overlap like the windows do.
    """
    stride = patch_size if stride is None else stride
    cols = F.unfold(images, kernel_size=patch_size, stride=stride)  # (N, C*p*p, L)
    return cols.transpose(1, 2)


def normalized_pixel_targets(patches: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """MAE's normalised-pixel target: each patch minus its mean, over its std (eps-stabilised).
    Shapes: ``(N, L, P)`` -> ``(N, L, P)``."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True, unbiased=False)
    return (patches - mean) / (var + eps).sqrt()


def masked_patch_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                     valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """MSE over masked patches only (MAE): ``sum_{i,l} m_il * mean_p (pred - target)^2 /
    sum_{i,l} m_il``.

    Predictions of visible patches do not enter the loss (nor its gradient).

    Args:
        pred, target: ``(N, L, P)``.
        mask: ``(N, L)`` bool/float, 1 = masked (counted).
        valid: optional ``(N,)`` bool; samples with False are left out entirely (e.g. a
            cross-instance sample without a partner image).

    Returns:
        scalar; 0 (with a graph to ``pred``) when nothing is counted.
    """
    per_patch = (pred - target).pow(2).mean(dim=-1)
    weight = mask.to(per_patch.dtype)
    if valid is not None:
        weight = weight * valid.to(per_patch.dtype)[:, None]
    denom = weight.sum()
    if denom == 0:
        return per_patch.sum() * 0.0
    return (per_patch * weight).sum() / denom


def cross_instance_partners(labels: torch.Tensor, image_keys: Sequence) -> torch.Tensor:
    """For each sample A, the index of another sample B of A's identity showing a *different*
    image (MCMA's cross-instance pair), or -1 when the batch has none.

    Among the candidates, B is the next one after A in batch order (cyclically), so that with
    the identity sampler's K images per identity every image is the partner of exactly one
    other. ``image_keys`` tells images apart (image paths, or dataset indices): two samples with
    equal keys are the same image (the identity sampler repeats images of identities that have
    fewer than K).

    Shapes: ``labels (N,)``, ``image_keys`` length N -> ``(N,)`` long.
    """
    n = labels.shape[0]
    if len(image_keys) != n:
        raise ValueError(f'cross_instance_partners: {n} labels but {len(image_keys)} image keys.')
    lab = labels.tolist()
    out = []
    for a in range(n):
        partner = -1
        for step in range(1, n):
            b = (a + step) % n
            if lab[b] == lab[a] and image_keys[b] != image_keys[a]:
                partner = b
                break
        out.append(partner)
    return torch.as_tensor(out, dtype=torch.long, device=labels.device)


# ---------------------------------------------------------------- bisimulation
def identity_means(feats: torch.Tensor, labels: torch.Tensor
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean feature of every identity present: ``(N, D), (N,)`` -> ``(ids (P,) sorted,
    means (P, D))``."""
    ids, inverse = torch.unique(labels, sorted=True, return_inverse=True)
    onehot = F.one_hot(inverse, ids.numel()).to(feats.dtype)  # (N, P)
    means = onehot.t() @ feats / onehot.sum(dim=0)[:, None]
    return ids, means


def identity_pairs(num_ids: int, device=None) -> torch.Tensor:
    """All ordered pairs ``(a, c)``, ``a != c``, of ``num_ids`` identities, row-major:
    ``(P (P - 1), 2)`` long."""
    a, c = torch.meshgrid(torch.arange(num_ids, device=device),
                          torch.arange(num_ids, device=device), indexing='ij')
    keep = a != c
    return torch.stack([a[keep], c[keep]], dim=1)


def identity_relation_vectors(feats: torch.Tensor, labels: torch.Tensor,
                              pairs: Optional[torch.Tensor] = None
                              ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Relation vectors between identities in one modality [ours]:
    ``r_{a,c} = mu_a - mu_c``, with ``mu_a`` the mean feature of identity a's samples in the
    batch (the model passes L2-normalised joint-space features, so ``mu`` lies in the unit
    ball and ``r`` measures how two people differ in that modality).

    Args:
        feats: ``(N, D)`` features of one modality.
        labels: ``(N,)`` identities.
        pairs: ``(R, 2)`` indices into the sorted identity list; default all ordered pairs
            ``a != c`` (:func:`identity_pairs`).

    Returns:
        ``(relations (R, D), pairs (R, 2))``.
    """
    _, means = identity_means(feats, labels)
    if pairs is None:
        pairs = identity_pairs(means.shape[0], device=feats.device)
    return means[pairs[:, 0]] - means[pairs[:, 1]], pairs


class DeviationPredictor(nn.Module):
    """MCMA's deviation predictor (parameters theta^p): maps a relation vector of one modality
    to the other's, ``r_hat^V = g_{T->V}(r^T)`` and ``r_hat^T = g_{V->T}(r^V)``.

    Each map is linear (``hidden_dims=None``, bias-free so that ``g(-r) = -g(r)``: the
    relation of (c, a) is the opposite of that of (a, c)), or a two-layer MLP [ours: the slides
    do not give its form].

    Args:
        dims: relation (joint feature) dimension D.
        hidden_dims: hidden width of the MLP; None = linear.

    Examples::
        >>> g = DeviationPredictor(8)
        >>> g.text_to_image(torch.zeros(3, 8)).shape
        torch.Size([3, 8])
    """

    def __init__(self, dims: int, hidden_dims: Optional[int] = None) -> None:
        super().__init__()

        def make() -> nn.Module:
            if hidden_dims is None:
                return nn.Linear(dims, dims, bias=False)
            return nn.Sequential(nn.Linear(dims, hidden_dims), nn.GELU(),
                                 nn.Linear(hidden_dims, dims))

        self.text_to_image = make()
        self.image_to_text = make()
        if hidden_dims is None:  # start at the identity map
            nn.init.eye_(self.text_to_image.weight)
            nn.init.eye_(self.image_to_text.weight)


def bisimulation_scores(rel_image: torch.Tensor, rel_text: torch.Tensor,
                        text_to_image: nn.Module, image_to_text: nn.Module) -> torch.Tensor:
    """``s(r^V_i, r^T_j) = cos(r^V_i, g_{T->V}(r^T_j)) + cos(r^T_j, g_{V->T}(r^V_i))`` for all
    pairs of relations (MCMA, ``docs/mcma.md`` eq. (3)).

    Shapes: ``rel_image (R, D)``, ``rel_text (R, D)`` -> ``(R, R)``, row i = image relation i.
    """
    hat_image = F.normalize(text_to_image(rel_text), dim=1)   # r_hat^V from each r^T_j
    hat_text = F.normalize(image_to_text(rel_image), dim=1)   # r_hat^T from each r^V_i
    v = F.normalize(rel_image, dim=1)
    t = F.normalize(rel_text, dim=1)
    return v @ hat_image.t() + hat_text @ t.t()


def bisimulation_loss(image_feats: torch.Tensor, text_feats: torch.Tensor,
                      labels: torch.Tensor, text_to_image: nn.Module, image_to_text: nn.Module,
                      temperature: float = 1.0, text_labels: Optional[torch.Tensor] = None
                      ) -> torch.Tensor:
    """Cross-identity bisimulation loss (MCMA, ``docs/mcma.md`` eq. (4)):

    ``L_bisim = -mean_{(a,c)} log [ exp(s(r^V_{a,c}, r^T_{a,c}) / T)
    / sum_{(a',c') in B} exp(s(r^V_{a,c}, r^T_{a',c'}) / T) ]``

    over all ordered pairs of distinct identities of the batch, with the relation vectors of
    :func:`identity_relation_vectors` and ``s`` of :func:`bisimulation_scores`. ``T = 1`` is
    the formula as written; a smaller T sharpens it [ours].

    Args:
        image_feats: ``(N, D)`` image features (the model passes L2-normalised ones).
        text_feats: ``(Nt, D)`` text features.
        labels: ``(N,)`` identities of the images; ``text_labels`` those of the texts
            (default: the same, i.e. text i describes image i).
        text_to_image, image_to_text: the deviation predictor's two maps.

    Returns:
        scalar; 0 (with a graph) when the batch has fewer than two identities, or when the
        two modalities do not cover the same identities.
    """
    text_labels = labels if text_labels is None else text_labels
    ids_v = torch.unique(labels, sorted=True)
    ids_t = torch.unique(text_labels, sorted=True)
    if ids_v.numel() < 2 or not torch.equal(ids_v, ids_t):
        return (image_feats.sum() + text_feats.sum()) * 0.0
    rel_v, pairs = identity_relation_vectors(image_feats, labels)
    rel_t, _ = identity_relation_vectors(text_feats, text_labels, pairs)
    scores = bisimulation_scores(rel_v, rel_t, text_to_image, image_to_text) / temperature
    target = torch.arange(scores.shape[0], device=scores.device)
    return F.cross_entropy(scores, target)
