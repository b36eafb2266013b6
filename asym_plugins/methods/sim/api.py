"""Similarity Inference Metric (SIM, IJCAI 2020): plain functional API (torch + numpy only).

``similarity_inference(dist_qg, dist_gg, ...)`` re-ranks a query-gallery distance matrix using only
gallery-gallery distances (no query-query distances). Two behaviours:

``mode='official'`` (default) -- the authors' released code, exactly (docs/sim.md, "Method" and
"What each mode reproduces"; max |ours - released| <= 1e-6 on float64 inputs):
    1. graph step: ``T_j`` = the ``n_graph`` (=20) nearest gallery items of ``g_j`` under
       ``fl(lam * D_gg)``; the gallery columns are updated **in index order, in place**:
       ``d[:, j]`` = mean of the K smallest ``d[:, t] + lam * D_gg[j, t]`` over ``t in T_j``,
       where ``d[:, t]`` is the already updated column for ``t < j`` and the original ``D_qg``
       for ``t >= j`` (``graph_update='sequential'``). ``graph_update='parallel'`` [ours] reads
       the original ``D_qg`` for every column (columns independent, gallery order irrelevant;
       not what the released code does).
    2. ``d_S`` and ``D_gg`` squared, cast to float32, each row divided by its own maximum
       (``dS_n``, ``Dgg_n``; the gallery rows are the columns of ``D_gg``, as released).
    3. ``d_M``: Zhong-style weighted Jaccard between the query's first ``k_q + 1`` gallery items
       under ``dS_n`` and ``g_j``'s expanded k-reciprocal set under ``Dgg_n`` (``k_g + 1``
       forward neighbours; expansion with ``round(k_g/2) + 1`` neighbours, overlap > 2/3);
       weights ``exp(-dS_n)`` / ``exp(-Dgg_n)`` normalised to sum 1 (float32);
       ``d_M = 1 - S / (2 - S)``, ``S = sum_t min(V_q[i, t], V_g[j, t])``.
    4. ``d_SIM = (1 - alpha) * d_M + alpha * dS_n``.
    Ties: ``ties='numpy'`` (default) resolves a tie across a neighbour-list boundary with
    ``numpy.argsort`` of that row, as the released code (numpy's unstable sort: its order can
    differ between numpy builds and CPUs); ``ties='stable'``: the lower index first.
    ``input_dtype='float16'``: both matrices cast to float16 and every graph-step sum, mean and
    square done in float16 arithmetic, as in the released ``eval_sysu.py`` / ``eval_regdb.py``.
    **[ours]** ``lam = 0`` ranks the graph neighbours by ``D_gg`` (the released code would sort a
    row of zeros).

``mode='equations'`` -- the slides' eqs. (4)-(8) as written:
    ``d_S`` = mean of the K smallest ``D_qg[i, t] + lam * D_gg[t, j]`` over *all* gallery items t
    (``E(g_j, g_j) = 0``: t = j is the direct edge), exact, or pruned to the ``prune_T`` nearest
    gallery items of ``q_i`` under ``D_qg`` plus ``t = j`` (``prune_T=None``: exact);
    ``N_c`` = ``k_q`` nearest gallery items under ``d_S``; ``R*`` = k-reciprocal set of ``g_j``
    in the gallery under ``D_gg`` (``k_g``; **[ours]** the item itself plus its ``k_g`` nearest
    others form ``N(g, k_g)``, as in Zhong et al.'s code; ``expand=True`` adds Zhong's expansion);
    ``d_M = 1 - |N_c & R*| / |N_c | R*|``; ``d_SIM = alpha * d_S + (1 - alpha) * d_M``.

**Alpha convention.** In both modes ``alpha`` weights the graph term and ``1 - alpha`` the Jaccard
term (eq. (8) writes ``alpha * d_S + (1 - alpha) * d_M``; the released code writes
``(1 - alpha) * d_M + alpha * d_S``). What differs is the *scale* of the graph term: the
equations use raw ``d_S`` (Euclidean, ~[0, 2] for L2-normalised features) while the released
code uses ``dS_n`` in [0, 1]. The presets' alphas were tuned for the released code; with
``mode='equations'`` they weight a differently scaled term.

**Ablations** (``components``): ``'graph'`` returns ``d_S`` alone (``dS_n`` in official mode, raw
``d_S`` in equations mode; per query both rank identically); ``'mutual'`` skips the graph step:
``d_S`` is replaced by ``D_qg`` everywhere (neighbour sets, weights *and* the fusion term), i.e.
``d_M`` is computed from the original distance, fused with it by ``alpha`` -- pass ``alpha=0``
for ``d_M`` alone; ``'both'`` is SIM.

Hyper-parameters default to ``SIM_PRESETS['sysu_mm01']`` (or ``preset=...``); explicit arguments
override a preset.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch

from ...progress import progress as _progress
from ._kernels import MAX_DISTANCE, check_distances, check_finite
from .api_utils import DEFAULT_CHUNK_SIZE, from_output, single_thread, to_tensors
from .graph_inference import (
    equations_graph_distance,
    official_graph_distance,
    released_graph_neighbours,
    sequential_graph_distance,
)
from .mutual_nn import (
    equations_gallery_ranks,
    gallery_reciprocal_sets,
    query_knn_sets,
    released_gallery_weights,
    released_normalise,
    released_query_weights,
    set_jaccard_chunks,
    weighted_jaccard_chunks,
)

__all__ = ['SIM_PRESETS', 'similarity_inference', 'resolve_sim_params', 'sim_graph_distance',
           'sim_re_ranking']

#: Hyper-parameters of the released code (docs/sim.md).
SIM_PRESETS: Dict[str, Dict] = {
    'sysu_mm01': dict(lam=0.01, K=9, k_q=12, k_g=20, alpha=0.3),
    'regdb': dict(lam=0.1, K=5, k_q=9, k_g=20, alpha=0.7),
}
_DEFAULT_PRESET = 'sysu_mm01'
_MODES = ('official', 'equations')
_COMPONENTS = ('graph', 'mutual', 'both')
_GRAPH_UPDATES = ('sequential', 'parallel')
_TIES = ('numpy', 'stable')
#: float16 mode: the released code squares float16 distances; 255**2 < 65504 (float16 max).
_HALF_LIMIT = 255.0


def resolve_sim_params(mode: str = 'official', preset: Optional[str] = None, **hp) -> Dict:
    """Merge a preset with explicit hyper-parameters and validate what does not need the data.

    Returns a dict with ``mode, lam, K, k_q, k_g, alpha, n_graph, prune_T, components, expand,
    chunk_size``. Raises ``ValueError`` for unknown names or out-of-range values.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if preset is not None and preset not in SIM_PRESETS:
        raise ValueError(f'unknown SIM preset {preset!r}; available: {sorted(SIM_PRESETS)}')
    known = {'lam', 'K', 'k_q', 'k_g', 'alpha', 'n_graph', 'prune_T', 'components', 'expand',
             'chunk_size', 'graph_update', 'input_dtype', 'ties', 'similarity'}
    unknown = set(hp) - known
    if unknown:
        raise ValueError(f'unknown SIM hyper-parameter(s) {sorted(unknown)}; '
                         f'known: {sorted(known)}')
    p = dict(SIM_PRESETS[preset or _DEFAULT_PRESET])
    p.update(n_graph=20, prune_T=None, components='both', expand=None,
             chunk_size=DEFAULT_CHUNK_SIZE, graph_update=None, input_dtype=None, ties=None,
             similarity=False)
    p.update({k: v for k, v in hp.items() if v is not None})
    p['mode'] = mode
    lam = float(p['lam'])
    if not (lam >= 0.0 and lam != float('inf')):
        raise ValueError(f'lam must be a finite number >= 0, got {p["lam"]}')
    alpha = float(p['alpha'])
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must lie in [0, 1], got {p["alpha"]}')
    for name in ('K', 'k_q', 'k_g', 'n_graph'):
        v = p[name]
        if isinstance(v, bool) or int(v) != v or int(v) < 1:
            raise ValueError(f'{name} must be an integer >= 1, got {v!r}')
        p[name] = int(v)
    if p['prune_T'] is not None:
        if mode != 'equations':
            raise ValueError("prune_T only applies to mode='equations' (the official graph step "
                             'already restricts t to the n_graph nearest gallery items of g_j)')
        if int(p['prune_T']) != p['prune_T'] or int(p['prune_T']) < 1:
            raise ValueError(f'prune_T must be None or an integer >= 1, got {p["prune_T"]!r}')
        p['prune_T'] = int(p['prune_T'])
        if p['K'] > p['prune_T']:
            raise ValueError(f'K={p["K"]} is larger than prune_T={p["prune_T"]}: the mean of the '
                             'K shortest paths needs at least K candidate intermediates')
    if mode == 'official' and p['K'] > p['n_graph']:
        raise ValueError(f'K={p["K"]} is larger than n_graph={p["n_graph"]}: official mode '
                         'averages the K shortest of the n_graph candidate paths')
    if p['components'] not in _COMPONENTS:
        raise ValueError(f'components must be one of {_COMPONENTS}, got {p["components"]!r}')
    if p['expand'] is None:
        p['expand'] = mode == 'official'
    if mode == 'official' and not p['expand']:
        raise ValueError("expand=False is not available in mode='official' (the released code "
                         'always expands the gallery k-reciprocal sets)')
    for name, choices in (('graph_update', _GRAPH_UPDATES), ('ties', _TIES)):
        if p[name] is None:
            p[name] = choices[0] if mode == 'official' else None
        elif mode != 'official':
            raise ValueError(f"{name} only applies to mode='official' (got {name}={p[name]!r} "
                             f"with mode={mode!r})")
        elif p[name] not in choices:
            raise ValueError(f'{name} must be one of {choices}, got {p[name]!r}')
    if p['input_dtype'] not in (None, 'float16'):
        raise ValueError(f"input_dtype must be None (use the inputs' dtype) or 'float16' (as in "
                         f"the released eval_sysu.py / eval_regdb.py), got {p['input_dtype']!r}")
    if p['input_dtype'] is not None and mode != 'official':
        raise ValueError("input_dtype='float16' only applies to mode='official'")
    p['similarity'] = bool(p['similarity'])
    if int(p['chunk_size']) < 1:
        raise ValueError(f'chunk_size must be >= 1, got {p["chunk_size"]}')
    p['chunk_size'] = max(1024, int(p['chunk_size']))
    p['lam'], p['alpha'] = lam, alpha
    return p


def _cosine_to_distance(s: torch.Tensor, name: str, budget: int) -> torch.Tensor:
    """``sqrt(2 - 2 s)``: the Euclidean distance of L2-normalised features from their cosine
    similarity ``s`` (new tensor; ``s`` must lie in [-1, 1] up to rounding)."""
    check_finite(s, name, budget)
    hi = float(s.max()) if s.numel() else 0.0
    lo = float(s.min()) if s.numel() else 0.0
    if hi > 1.0 + 1e-4 or lo < -1.0 - 1e-4:
        raise ValueError(f'similarity=True expects cosine similarities in [-1, 1]; {name} spans '
                         f'[{lo:.4g}, {hi:.4g}]. Pass distances instead (similarity=False).')
    return (2.0 - 2.0 * s).clamp_(min=0.0).sqrt_()


def _prepare(dist_qg, dist_gg, device, budget, p=None):
    (qg, gg), like = to_tensors((dist_qg, dist_gg), ('dist_qg', 'dist_gg'), device)
    p = p or {}
    nq, ng = qg.shape
    if nq < 1 or ng < 1:
        raise ValueError(f'dist_qg must have at least one query and one gallery item, '
                         f'got shape {tuple(qg.shape)}')
    if gg.shape != (ng, ng):
        raise ValueError(f'dist_gg must be (Ng, Ng) = ({ng}, {ng}) to match the {ng} columns of '
                         f'dist_qg {tuple(qg.shape)}, got {tuple(gg.shape)}')
    if p.get('similarity'):
        qg = _cosine_to_distance(qg, 'dist_qg', budget)
        gg = _cosine_to_distance(gg, 'dist_gg', budget)
    half = p.get('input_dtype') == 'float16'
    limit = _HALF_LIMIT if half else MAX_DISTANCE
    what = "SIM (input_dtype='float16')" if half else 'SIM'
    check_distances(qg, 'dist_qg', budget, limit, what)
    check_distances(gg, 'dist_gg', budget, limit, what)
    return qg, gg, like


def _check_K(p: Dict, ng: int) -> None:
    if p['components'] == 'mutual':
        return
    if p['K'] > ng:
        raise ValueError(f'K={p["K"]} is larger than the gallery ({ng} items)')
    if p['mode'] == 'official' and p['K'] > min(p['n_graph'], ng):
        raise ValueError(f'K={p["K"]} is larger than the {min(p["n_graph"], ng)} candidates of the '
                         'official graph step (min(n_graph, Ng))')


def sim_graph_distance(dist_qg, dist_gg, mode: str = 'official', lam=None, K=None,
                       n_graph: int = 20, prune_T=None, chunk_size: int = DEFAULT_CHUNK_SIZE,
                       device=None, preset=None, stats: Optional[Dict] = None, *,
                       graph_update: Optional[str] = None, input_dtype: Optional[str] = None,
                       ties: Optional[str] = None, similarity: bool = False):
    """The raw graph distance ``d_S`` alone (eq. (5) / released step 1), not normalised.

    ``stats`` (equations mode): a dict filled with per-stage certificate counts, see
    :func:`~asym_plugins.methods.sim.graph_inference.equations_graph_distance`.
    """
    p = resolve_sim_params(mode, preset, lam=lam, K=K, n_graph=n_graph, prune_T=prune_T,
                           chunk_size=chunk_size, graph_update=graph_update,
                           input_dtype=input_dtype, ties=ties, similarity=similarity)
    qg, gg, like = _prepare(dist_qg, dist_gg, device, p['chunk_size'], p)
    _check_K(p, qg.shape[1])
    qg_dtype = qg.dtype
    with torch.no_grad():
        if mode == 'official':
            if p['input_dtype'] == 'float16':
                qg, gg = _to_half_values(qg), _to_half_values(gg)
            d = _official_graph(qg, gg, p).to(qg_dtype)
        else:
            d = equations_graph_distance(qg, gg, p['lam'], p['K'], p['prune_T'], p['chunk_size'],
                                         stats=stats)
    return from_output(d, like)


def _official_graph(qg: torch.Tensor, gg: torch.Tensor, p: Dict, transposed: bool = False
                    ) -> torch.Tensor:
    """``d_S`` of the official mode (sequential or parallel update) on prepared inputs; in
    float16 mode the values are float16 numbers held in float32. ``transposed``: ``d_S^T``
    ``(Ng, Nq)``, contiguous (the layout both steps compute in)."""
    budget, half = p['chunk_size'], p['input_dtype'] == 'float16'
    T, B = released_graph_neighbours(gg, p['lam'], p['n_graph'], budget, p['ties'], half)
    if p['graph_update'] == 'sequential':
        workers = p.get('workers') or torch.get_num_threads()
        with single_thread():  # small elementwise ops: one intra-op thread per query slice
            return sequential_graph_distance(qg, T, B, p['K'], budget, half, workers=workers,
                                             transposed=transposed)
    return official_graph_distance(qg, gg, p['lam'], p['K'], p['n_graph'], budget,
                                   neighbours=T, edge_weights=B, half=half,
                                   transposed=transposed)


def similarity_inference(dist_qg, dist_gg, mode: str = 'official', lam: Optional[float] = None,
                         K: Optional[int] = None, k_q: Optional[int] = None,
                         k_g: Optional[int] = None, alpha: Optional[float] = None,
                         n_graph: int = 20, prune_T: Optional[int] = None,
                         chunk_size: int = DEFAULT_CHUNK_SIZE, device=None, *,
                         preset: Optional[str] = None, components: str = 'both',
                         expand: Optional[bool] = None, progress: Optional[bool] = False,
                         graph_update: Optional[str] = None, input_dtype: Optional[str] = None,
                         ties: Optional[str] = None, similarity: bool = False):
    """Re-rank ``dist_qg`` with the Similarity Inference Metric (see the module docstring).

    Args:
        dist_qg: ``(Nq, Ng)`` query-gallery distances (numpy array or torch tensor, finite).
        dist_gg: ``(Ng, Ng)`` gallery-gallery distances.
        mode: ``'official'`` (released code, default) or ``'equations'`` (slides' eqs. 4-8).
        lam, K, k_q, k_g, alpha: SIM hyper-parameters (default: ``preset`` or SYSU-MM01's).
        n_graph: official mode: candidate intermediates per gallery item (released code: 20;
            clamped to Ng).
        prune_T: equations mode: restrict intermediates to each query's ``prune_T`` nearest gallery
            items (plus ``t = j``); ``None`` = exact.
        chunk_size: element budget of the largest dense temporary (memory bound; the
            ``(Nq, Ng)`` output and the inputs are extra).
        device: compute device (default: the device of ``dist_qg``; CPU for numpy input).
        preset: ``'sysu_mm01'`` or ``'regdb'`` (see :data:`SIM_PRESETS`).
        components: ``'both'`` (SIM), ``'graph'`` or ``'mutual'`` (ablations, module docstring).
        expand: equations mode only: Zhong-style expansion of ``R*`` (default False).
        graph_update: official mode: ``'sequential'`` (released, default) or ``'parallel'``.
        input_dtype: official mode: ``'float16'`` = as in the released eval_sysu.py /
            eval_regdb.py (distances cast to float16 before SIM); None = the inputs' dtype.
        ties: official mode: ``'numpy'`` (released tie order, default) or ``'stable'``.
        similarity: the inputs are cosine similarities of L2-normalised features; they are
            converted to ``sqrt(2 - 2 s)`` (their Euclidean distance) first.
        progress: a bar over the stages (gallery neighbours, graph inference, mutual-NN
            inference); None = only on a terminal (``asym_plugins.progress``).

    Returns:
        ``(Nq, Ng)`` re-ranked distances, numpy for numpy ``dist_qg`` (else a tensor on
        ``dist_qg``'s device), in the inputs' float dtype (float64 if either input is float64,
        else float32). ``k_q``/``k_g`` larger than the gallery are clamped to it.

    Raises:
        ValueError: bad shapes, non-finite, negative (beyond rounding) or overflow-prone
            (> 1e18; float16 mode: > 255) distances, K larger than the gallery (or than
            ``n_graph`` in official mode, or than ``prune_T``), ``k_q``/``k_g`` < 1, ``alpha``
            outside [0, 1], unknown mode/preset/components.
    """
    p = resolve_sim_params(mode, preset, lam=lam, K=K, k_q=k_q, k_g=k_g, alpha=alpha,
                           n_graph=n_graph, prune_T=prune_T, components=components,
                           expand=expand, chunk_size=chunk_size, graph_update=graph_update,
                           input_dtype=input_dtype, ties=ties, similarity=similarity)
    qg, gg, like = _prepare(dist_qg, dist_gg, device, p['chunk_size'], p)
    _check_K(p, qg.shape[1])
    stages = {'graph': 2, 'mutual': 2}.get(p['components'], 3)
    with torch.no_grad(), _progress(total=stages, desc=f'SIM ({mode})', unit='stage',
                                    enabled=progress) as bar:
        if mode == 'official':
            # The torch thread setting becomes the number of query slices of the sequential graph
            # step; everything else runs on one intra-op thread (its ops are small or memory
            # bound, and on a busy machine a second OpenMP thread made them several times slower:
            # tools/benchmarks/bench_rerank.py, "2 threads + load").
            p = dict(p, workers=torch.get_num_threads())
            with single_thread():
                out = _official(qg, gg, p, bar)
        else:
            out = _equations(qg, gg, p, bar)
    return from_output(out, like)


def _to_half_values(x: torch.Tensor) -> torch.Tensor:
    """float16 values of ``x`` (held in float32), rounded once from ``x``'s own precision as
    numpy's ``astype(np.float16)`` does (torch rounds float64 through float32 first)."""
    if x.dtype != torch.float64:
        return x.to(torch.float16).float()
    h = torch.from_numpy(x.cpu().numpy().astype(np.float16))
    return h.to(device=x.device, dtype=torch.float32)


def _official(qg: torch.Tensor, gg: torch.Tensor, p: Dict, bar) -> torch.Tensor:
    budget = p['chunk_size']
    half = p['input_dtype'] == 'float16'
    out_dtype = qg.dtype
    if half:  # the released evaluation scripts: both matrices cast to float16 before SIM
        qg, gg = _to_half_values(qg), _to_half_values(gg)
    bar.update(1)
    if p['components'] == 'mutual':
        d = qg
        dn = released_normalise(d, budget, half)  # float32, as released
    else:
        dT = _official_graph(qg, gg, p, transposed=True)
        bar.update(1)
        dn = released_normalise(dT, budget, half, transposed=True)
        # dS^T is free now: its storage takes the output (no fresh pages to fault in)
        d = dT.view(-1).view(dn.shape)
        del dT
    if p['components'] == 'graph':
        return dn.to(out_dtype)
    vq = released_query_weights(dn, p['k_q'] + 1, budget, p['ties'])
    # the released code builds the gallery rows from the columns of D_gg
    vg = released_gallery_weights(gg, p['k_g'], budget, p['ties'], half, columns=True)
    a = p['alpha']
    # the graph step's own (Nq, Ng) array is free now: reuse it (no fresh pages to fault in)
    out = d if d is not qg and d.dtype == out_dtype else torch.empty(dn.shape, dtype=out_dtype,
                                                                      device=dn.device)
    del d
    for r0, r1, dm in weighted_jaccard_chunks(vq, vg, budget):
        dm.mul_(1.0 - a)  # float32, like the released (1 - alpha) * d_M
        o = out[r0:r1]
        o.copy_(dn[r0:r1])
        o.mul_(a)
        o.add_(dm)  # + alpha * dS_n in the output dtype
    bar.update(1)
    return out


def _equations(qg: torch.Tensor, gg: torch.Tensor, p: Dict, bar) -> torch.Tensor:
    budget = p['chunk_size']
    bar.update(1)
    if p['components'] == 'mutual':
        d = qg.clone()
    else:
        d = equations_graph_distance(qg, gg, p['lam'], p['K'], p['prune_T'], budget)
        bar.update(1)
    if p['components'] == 'graph':
        return d
    nc = query_knn_sets(d, p['k_q'], budget)
    ranks = equations_gallery_ranks(gg, p['k_g'] + 1, budget)
    rg = gallery_reciprocal_sets(ranks, p['k_g'], budget, d.dtype, expand=p['expand'])
    a = p['alpha']
    for r0, r1, dm in set_jaccard_chunks(nc, rg, budget):
        blk = d[r0:r1]
        blk.mul_(a).add_(dm, alpha=1.0 - a)  # alpha * d_S + (1 - alpha) * d_M
    bar.update(1)
    return d


def sim_re_ranking(q_g_dist, q_q_dist=None, g_g_dist=None, **sim_kwargs):
    """torchreid-style entry point: same positional signature as torchreid's ``re_ranking``
    (``q_g_dist, q_q_dist, g_g_dist``); ``q_q_dist`` is ignored (SIM uses no query-query
    distances). Keyword arguments go to :func:`similarity_inference`."""
    if g_g_dist is None:
        raise ValueError('sim_re_ranking needs g_g_dist (gallery-gallery distances)')
    return similarity_inference(q_g_dist, g_g_dist, **sim_kwargs)
