"""Ranked lists: the top-k gallery of each query (the repo's distance and exclusion rules)
and their picture (query tile, then the top-k tiles framed green / red)."""
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from asym_plugins.evaluation import compute_distance, l2_normalize, market_exclusion

from .drawing import BLUE, GREEN, RED
from .sheet import Cell


def feature_distance(qf, gf, metric: str = 'euclidean', normalize: bool = False
                     ) -> torch.Tensor:
    """Query x gallery distances with :func:`compute_distance` (features L2-normalised first
    when ``normalize``), as ``ReIDMetric.compute_distmat`` computes them."""
    qf, gf = torch.as_tensor(np.asarray(qf)).float(), torch.as_tensor(np.asarray(gf)).float()
    if normalize:
        qf, gf = l2_normalize(qf), l2_normalize(gf)
    return compute_distance(qf, gf, metric)


def ranked_gallery(dist, q_pids, g_pids, q_camids=None, g_camids=None, topk: int = 10,
                   rule: str = 'market') -> np.ndarray:
    """``(Nq, topk)`` gallery indices by increasing distance (stable: ties keep the lower
    index first, as :func:`evaluate_rank`), ``-1`` where fewer items are left.

    ``rule='market'`` drops gallery items with the query's pid AND camid (:func:`market_exclusion`);
    ``'none'`` keeps everything (text -> image).
    """
    dist = torch.as_tensor(np.asarray(dist) if not isinstance(dist, torch.Tensor) else dist)
    dist = dist.detach().float().cpu().clone()
    if rule == 'market':
        if q_camids is None or g_camids is None:
            raise ValueError("ranked_gallery: rule='market' needs q_camids and g_camids")
        dist[market_exclusion(q_pids, g_pids, q_camids, g_camids)(slice(None))] = float('inf')
    elif rule != 'none':
        raise ValueError(f"ranked_gallery: rule must be 'market' or 'none', got {rule!r}")
    k = min(int(topk), dist.shape[1])
    order = torch.argsort(dist, dim=1, stable=True)[:, :k]
    order[~torch.isfinite(torch.gather(dist, 1, order))] = -1
    return order.numpy()


def pick_queries(num_queries: int, total: int, indices: Optional[Sequence[int]] = None
                 ) -> List[int]:
    """``indices`` (checked) or ``num_queries`` indices spread evenly over ``0..total-1``."""
    if indices:
        bad = [i for i in indices if not 0 <= i < total]
        if bad:
            raise ValueError(f'query indices {bad} out of range: there are {total} queries')
        return [int(i) for i in indices]
    n = max(1, min(int(num_queries), total))
    return sorted(set(np.linspace(0, total - 1, n).round().astype(int).tolist()))


def ranklist_block(order_row: np.ndarray, dist_row, q_pid: int, g_pids: np.ndarray,
                   load_gallery: Callable[[int], np.ndarray]) -> List[Cell]:
    """Cells of one ranked list: green frame when the gallery pid equals the query's."""
    cells = []
    for rank, j in enumerate(order_row.tolist(), 1):
        if j < 0:
            cells.append(Cell(None))
            continue
        colour = GREEN if int(g_pids[j]) == int(q_pid) else RED
        cells.append(Cell(load_gallery(j), colour, f'{rank}: {float(dist_row[j]):.3g}'))
    return cells


def query_cell(img: np.ndarray, pid: int, camid: Optional[int] = None) -> Cell:
    label = f'q {pid}' + (f' c{int(camid) + 1}' if camid is not None else '')
    return Cell(img, BLUE, label)


def ranklist_record(qi: int, order_row: np.ndarray, dist_row, q_pid: int, g_pids: np.ndarray,
                    boxes: Sequence) -> Dict:
    """JSON-able description of one ranked list (gallery indices, pids, distances, match
    flags and the frame box of each tile)."""
    items = [int(j) for j in order_row.tolist() if j >= 0]
    return dict(query=int(qi), pid=int(q_pid), gallery=items,
                gallery_pids=[int(g_pids[j]) for j in items],
                distances=[float(dist_row[j]) for j in items],
                match=[bool(int(g_pids[j]) == int(q_pid)) for j in items],
                boxes=[b for b in boxes if b is not None])


__all__ = ['feature_distance', 'ranked_gallery', 'pick_queries', 'ranklist_block',
           'query_cell', 'ranklist_record']
