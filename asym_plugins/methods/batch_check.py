"""Build-time check that a training sampler can feed a method's losses (P x K batches).

A loss term that needs two images of an identity (MCMA's cross-instance reconstruction, MoS's
Jaccard triplet and positive prior) or two identities (bisimulation, triplets) is identically 0
(or refused) on batches that lack them; :func:`check_identity_batches` refuses such a config
before anything is built, naming the keys to change.
"""
from typing import Optional

#: Samplers that build P identities x K images batches (``num_instances`` = K; the
#: cross-modality one draws K per modality, 2K per identity).
IDENTITY_SAMPLERS = ('IdentitySampler', 'CrossModalityIdentitySampler')
_DEFAULT_K = 4   # IdentitySampler's default num_instances


def _get(d, key, default=None):
    return d.get(key, default) if hasattr(d, 'get') else default


def identity_batch_shape(train_dataloader: Optional[dict]):
    """``(P, K)`` of the config's training sampler, or None when it is not an identity
    sampler (random batches: no guaranteed pairs)."""
    sampler = _get(train_dataloader or {}, 'sampler') or {}
    kind = str(_get(sampler, 'type', '')).split('.')[-1]
    if kind not in IDENTITY_SAMPLERS:
        return None
    k = int(_get(sampler, 'num_instances', _DEFAULT_K))
    bs = int(_get(sampler, 'batch_size', _get(train_dataloader, 'batch_size', 1)))
    per_id = 2 * k if kind == 'CrossModalityIdentitySampler' else k
    return max(bs // max(per_id, 1), 0), (2 * k if kind == 'CrossModalityIdentitySampler' else k)


def check_identity_batches(owner: str, train_dataloader: Optional[dict], need_k: int,
                           need_p: int, k_reason: str, p_reason: str) -> None:
    """Raise ``ValueError`` when the training batches cannot hold ``need_k`` images of an
    identity (for ``k_reason``) or ``need_p`` identities (for ``p_reason``).

    Configs without a training loader pass. A non-identity sampler passes only when nothing
    is needed (``need_k <= 1`` and ``need_p <= 1``).
    """
    if not train_dataloader or (need_k <= 1 and need_p <= 1):
        return
    shape = identity_batch_shape(train_dataloader)
    if shape is None:
        kind = _get(_get(train_dataloader, 'sampler') or {}, 'type')
        raise ValueError(
            f'{owner}: train_dataloader.sampler.type={kind!r} draws random batches, but '
            f'{k_reason if need_k > 1 else p_reason} needs P x K identity batches; use '
            "train_dataloader.sampler=dict(type='IdentitySampler', batch_size=<batch_size>, "
            'num_instances=4) (or disable the loss).')
    p, k = shape
    if k < need_k:
        raise ValueError(
            f'{owner}: train_dataloader.sampler.num_instances gives K={k} image(s) per '
            f'identity, but {k_reason} needs K >= {need_k} (it is 0 on every batch otherwise); '
            f'set train_dataloader.sampler.num_instances >= {need_k}, or disable the loss.')
    if p < need_p:
        raise ValueError(
            f'{owner}: train_dataloader.sampler batch_size / num_instances gives P={p} '
            f'identity per batch, but {p_reason} needs P >= {need_p}; raise '
            'train_dataloader.batch_size and train_dataloader.sampler.batch_size (or lower '
            'num_instances), or disable the loss.')
