"""P x K identity sampling (BoT's ``RandomIdentitySampler``), distributed-aware."""
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from asym_plugins.registry import DATA_SAMPLERS


def _dataset_pids(dataset) -> List[int]:
    """The identity label of every sample, without running the pipeline (or rendering)."""
    get = getattr(dataset, 'get_pid', None)
    pids = []
    for i in range(len(dataset)):
        if get is not None:
            pid = get(i)
        else:
            info = dataset.get_data_info(i)
            pid = info.get('label', info.get('pid'))
        if pid is None:
            raise KeyError(f'{type(dataset).__name__}: sample {i} has neither label nor pid; '
                           'the identity sampler needs one of them.')
        pids.append(int(pid))
    return pids


@DATA_SAMPLERS.register_module()
class IdentitySampler(Sampler):
    """Yields batches of ``P = batch_size // num_instances`` distinct identities with
    ``K = num_instances`` images each (identities with fewer images are re-sampled with
    replacement). Every rank draws the same epoch plan from a shared seed and takes every
    ``world_size``-th batch, so each rank's batch is a complete P x K batch.

    Args:
        dataset: a dataset whose ``get_data_info(i)`` has ``label`` (or ``pid``), or which has
            ``get_pid(i)``.
        batch_size: per-GPU batch size; MUST equal the dataloader's ``batch_size``.
        num_instances: K.
        shuffle: shuffle identities and images (False gives a fixed plan, for debugging).
        seed: base seed; ``None`` draws one and syncs it across ranks.

    Examples::
        >>> train_dataloader = dict(batch_size=64,
        ...     sampler=dict(type='IdentitySampler', batch_size=64, num_instances=4), ...)
    """

    def __init__(self, dataset, batch_size: int, num_instances: int = 4, shuffle: bool = True,
                 seed: Optional[int] = None):
        if num_instances < 1 or batch_size % num_instances:
            raise ValueError(
                f'IdentitySampler: batch_size={batch_size} must be a positive multiple of '
                f'num_instances={num_instances} (a batch is P identities x K images).')
        self.dataset = dataset
        self.batch_size = batch_size
        self.num_instances = num_instances
        self.num_pids_per_batch = batch_size // num_instances
        self.shuffle = shuffle
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        self.index_by_pid: Dict[int, List[int]] = defaultdict(list)
        for idx, pid in enumerate(self._pids()):
            self.index_by_pid[pid].append(idx)
        self.pids = sorted(self.index_by_pid)
        if len(self.pids) < self.num_pids_per_batch:
            raise ValueError(
                f'IdentitySampler: the dataset has {len(self.pids)} identities but a batch needs '
                f'P={self.num_pids_per_batch} (batch_size {batch_size} / num_instances '
                f'{num_instances}); lower batch_size.')
        # Estimated number of batches per epoch (the plan is truncated/padded to it).
        groups = sum(max(len(v), num_instances) // num_instances
                     for v in self.index_by_pid.values())
        self.num_batches = max(1, groups // self.num_pids_per_batch // self.world_size)

    def _pids(self) -> Sequence[int]:
        return _dataset_pids(self.dataset)

    def _plan(self) -> List[List[int]]:
        rng = np.random.default_rng(self.seed + self.epoch)
        groups: Dict[int, List[List[int]]] = {}
        for pid in self.pids:
            idxs = np.asarray(self.index_by_pid[pid])
            if len(idxs) < self.num_instances:
                idxs = rng.choice(idxs, size=self.num_instances, replace=True)
            elif self.shuffle:
                idxs = rng.permutation(idxs)
            n = len(idxs) // self.num_instances * self.num_instances
            groups[pid] = [list(map(int, idxs[i:i + self.num_instances]))
                           for i in range(0, n, self.num_instances)]
        batches, avail = [], [p for p in self.pids if groups[p]]
        total = self.num_batches * self.world_size
        while len(batches) < total:
            if len(avail) < self.num_pids_per_batch:  # refill: start a new pass over identities
                more = self._refill(rng)
                for p in more:
                    groups[p].extend(more[p])
                avail = [p for p in self.pids if groups[p]]
            chosen = (rng.choice(avail, size=self.num_pids_per_batch, replace=False)
                      if self.shuffle else avail[:self.num_pids_per_batch])
            batch = []
            for p in chosen:
                batch.extend(groups[int(p)].pop(0))
            batches.append(batch)
            avail = [p for p in avail if groups[p]]
        return batches

    def _refill(self, rng) -> Dict[int, List[List[int]]]:
        out = {}
        for pid in self.pids:
            idxs = rng.choice(self.index_by_pid[pid], size=self.num_instances,
                              replace=len(self.index_by_pid[pid]) < self.num_instances)
            out[pid] = [list(map(int, idxs))]
        return out

    def __iter__(self) -> Iterator[int]:
        batches = self._plan()[self.rank::self.world_size]
        for batch in batches:
            yield from batch

    def __len__(self) -> int:
        return self.num_batches * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Called by MMEngine's loop each epoch: a new plan per epoch, same on every rank."""
        self.epoch = epoch
