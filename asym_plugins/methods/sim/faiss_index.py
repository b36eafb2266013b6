"""faiss candidates for the gallery side of the streaming SIM (docs/sim.md, "Large galleries").

:func:`~.streaming.similarity_inference_features` needs, for every gallery item, its few nearest
gallery items (graph neighbours, forward lists, cached distances) and its farthest distance (the
normalisation of Method 2). ``neighbours='exact'`` finds them in row tiles of the whole
``D_gg``; this module lets faiss propose them instead:

* ``'faiss'``: exact ``IndexFlatL2`` for the nearest items and an exact inner-product index for
  the farthest one (the same ``Ng^2 x d`` products as the tiled path, in faiss' kernels: the
  cross-check with an outside library, and the route to faiss on a GPU);
* ``'faiss-approx'``: ``IndexHNSWFlat`` (``hnsw_m``, ``ef_construction``, ``ef_search``): about
  ``Ng log Ng`` distance evaluations instead of ``Ng^2``; the farthest item is searched as the
  nearest to ``-x`` (all norms equal, e.g. L2-normalised features), otherwise in a second HNSW
  index over ``[y, |y|^2]`` with inner products (the exact indexes do the same with flat
  indexes).

faiss only *proposes* candidates (its squared L2 in float32); the streaming path recomputes
their distances with the tiled path's arithmetic and orders them itself, see
:class:`FaissNeighbours`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch

__all__ = ['NEIGHBOURS', 'FaissParams', 'FaissNeighbours', 'import_faiss']

#: Values of ``neighbours=``.
NEIGHBOURS = ('exact', 'faiss', 'faiss-approx', 'bf16-approx')


def import_faiss():
    """``faiss``, or an ImportError saying how to install it."""
    try:
        import faiss  # type: ignore
    except ImportError as e:  # pragma: no cover - faiss-cpu is in the [faiss] extra
        raise ImportError("neighbours='faiss' / 'faiss-approx' needs faiss: pip install "
                          "faiss-cpu (or pip install 'asym-reid[faiss]'), or use "
                          "neighbours='exact'") from e
    return faiss


@dataclass
class FaissParams:
    """Index settings. ``margin``: candidates searched beyond the ones the lists need (default:
    ``max(16, needed // 2)`` for the exact index, whose last values bound the others; 0 for
    HNSW, which gives no bound); ``far``: farthest candidates searched per row; ``hnsw_m``,
    ``ef_construction``, ``ef_search``: ``IndexHNSWFlat``'s ``M``, ``efConstruction`` and
    ``efSearch`` (raised to the number of candidates when smaller); ``ef_far``: ``efSearch`` of
    the farthest-item search (it only sets the normaliser)."""
    margin: Optional[int] = None
    far: int = 8
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64
    ef_far: int = 16

    @classmethod
    def from_kwargs(cls, kw: Optional[dict]) -> 'FaissParams':
        kw = dict(kw or {})
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(kw) - known)
        if bad:
            raise ValueError(f'faiss_params: unknown key(s) {bad}; known: {sorted(known)}')
        out = cls(**kw)
        for name in ('far', 'hnsw_m', 'ef_construction', 'ef_search', 'ef_far'):
            if int(getattr(out, name)) < 1:
                raise ValueError(f'faiss_params: {name} must be >= 1, got {getattr(out, name)}')
        if out.margin is not None and int(out.margin) < 0:
            raise ValueError(f'faiss_params: margin must be >= 0, got {out.margin}')
        return out


class FaissNeighbours:
    """Nearest and farthest gallery candidates of gallery rows, from faiss.

    Args:
        feats: ``(Ng, C)`` gallery features as the distance sees them (L2-normalised when the
            distance normalises; ``metric='cosine'``: normalised here).
        metric: ``'euclidean'`` / ``'sqeuclidean'`` / ``'cosine'`` (all rank by squared L2 of
            ``feats``).
        approx: HNSW instead of the exact flat indexes.
        params: :class:`FaissParams`.
        index_bytes: a serialised index built by another rank (:meth:`serialised`).

    Bounds: for the exact indexes, every gallery item outside the ``k`` returned by
    :meth:`nearest` has a squared distance ``>= s_k - eps`` (``s_k`` the ``k``-th returned
    value) and every item outside :meth:`farthest`'s list one ``<= s_far + eps``, where ``eps``
    (:meth:`eps`) bounds the float32 rounding of ``|x|^2 + |y|^2 - 2 x.y`` in faiss and in the
    tiled path (with the antipode search of equal-norm features, ``s_far`` is
    ``2|x|^2 + 2 max|y|^2`` minus the last value). The streaming path uses them to certify
    that its candidates hold everything it keeps; an HNSW index gives no such bound
    (``certified`` is False).
    """

    columns = None  # the gallery as the streaming path's distance prepares it (set there)

    def __init__(self, feats: torch.Tensor, metric: str, approx: bool,
                 params: FaissParams, index_bytes: Optional[Tuple[bytes, ...]] = None):
        faiss = import_faiss()
        self.faiss, self.approx, self.params = faiss, approx, params
        self.certified = not approx
        u = feats.detach()
        if metric == 'cosine':
            u = torch.nn.functional.normalize(u.double(), dim=1)
        x = np.ascontiguousarray(u.cpu().numpy(), dtype=np.float32)  # no copy when float32
        self.x = x
        self.ng, self.dim = x.shape
        self.norms = (x.astype(np.float64) ** 2).sum(1)
        nmax, nmin = float(self.norms.max()), float(self.norms.min())
        self.max_norm = nmax
        # all norms equal (normalised features): the farthest item is the nearest to -x
        self.antipode = nmax - nmin <= 1e-5 * max(nmax, 1e-30)
        faiss.omp_set_num_threads(max(1, torch.get_num_threads()))
        if index_bytes is not None:
            self.near = faiss.deserialize_index(index_bytes[0])
            self.far = (faiss.deserialize_index(index_bytes[1])
                        if index_bytes[1] is not None else None)
            self._set_ef()
            return
        if approx:
            self.near = faiss.IndexHNSWFlat(self.dim, int(params.hnsw_m))
            self.near.hnsw.efConstruction = int(params.ef_construction)
            self.near.add(x)
            self.far = None
            if not self.antipode:
                self.far = faiss.IndexHNSWFlat(self.dim + 1, int(params.hnsw_m),
                                               faiss.METRIC_INNER_PRODUCT)
                self.far.hnsw.efConstruction = int(params.ef_construction)
                self.far.add(self._augmented())
            self._set_ef()
        else:
            self.near = faiss.IndexFlatL2(self.dim)
            self.near.add(x)
            self.far = None
            if not self.antipode:
                self.far = faiss.IndexFlatIP(self.dim + 1)
                self.far.add(self._augmented())

    def default_margin(self, need: int) -> int:
        """Candidates beyond ``need``: the exact index certifies with them (see ``margin``)."""
        return max(16, need // 2) if self.certified else 0

    def _augmented(self) -> np.ndarray:
        """``[y, |y|^2]``: ``<[y, |y|^2], [-2x, 1]> = |y|^2 - 2 x.y = |x - y|^2 - |x|^2``."""
        return np.ascontiguousarray(
            np.concatenate([self.x, self.norms[:, None].astype(np.float32)], 1))

    def _set_ef(self, k: int = 0, ef: Optional[int] = None) -> None:
        ef = self.params.ef_search if ef is None else ef
        for index in (self.near, self.far):
            if index is not None and hasattr(index, 'hnsw'):
                index.hnsw.efSearch = max(int(ef), int(k))

    def serialised(self) -> Tuple[bytes, ...]:
        """The indexes as bytes (rank 0 builds the HNSW graph once, the others load it)."""
        s = self.faiss.serialize_index
        return (s(self.near), s(self.far) if self.far is not None else None)

    def eps(self, rows: np.ndarray) -> np.ndarray:
        """Bound on the float32 rounding of a squared distance from gallery ``rows``."""
        u = np.finfo(np.float32).eps
        return 4.0 * self.dim * u * (self.norms[rows] + self.max_norm) + 1e-30

    def nearest(self, r0: int, r1: int, k: int) -> Tuple[np.ndarray, np.ndarray]:
        """``(squared distances, ids)`` of the ``k`` nearest gallery items of rows
        ``r0:r1`` (ascending; id -1 where an approximate index found fewer)."""
        k = min(int(k), self.ng)
        self._set_ef(k)
        sq, ids = self.near.search(self.x[r0:r1], k)
        return sq, ids

    def farthest(self, r0: int, r1: int, k: int) -> Tuple[np.ndarray, np.ndarray]:
        """``(ids, bound)``: the ``k`` farthest gallery items of rows ``r0:r1`` (id -1 where
        an approximate index found fewer) and, for the exact indexes, an upper bound on the
        squared distance of every other item (up to :meth:`eps`)."""
        k = min(int(k), self.ng)
        self._set_ef(k, self.params.ef_far)
        x = self.x[r0:r1]
        nx = self.norms[r0:r1]
        if self.far is None:  # equal norms: the nearest to the antipode -x
            s, ids = self.near.search(np.ascontiguousarray(-x), k)
            # |-x - y|^2 = |x|^2 + |y|^2 + 2 x.y = 2|x|^2 + 2|y|^2 - |x - y|^2
            bound = 2 * nx + 2 * self.max_norm - s[:, -1]
        else:  # max |y|^2 - 2 x.y = max <[y, |y|^2], [-2x, 1]>
            q = np.ascontiguousarray(np.concatenate(
                [-2 * x, np.ones((x.shape[0], 1), dtype=np.float32)], 1))
            ip, ids = self.far.search(q, k)
            bound = ip[:, -1] + nx
        return ids, bound
