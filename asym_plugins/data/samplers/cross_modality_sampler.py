"""P x (K visible + K infrared) identity sampling for cross-modality Re-ID, distributed-aware."""
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.logging import print_log
from torch.utils.data import Sampler

from asym_plugins.registry import DATA_SAMPLERS


def _dataset_pids_modalities(dataset) -> Tuple[List[int], List[str]]:
    """Identity label and modality of every sample, without running the pipeline (or
    rendering: the raw data info of a ``BaseDataset`` is read, not its ``get_data_info``)."""
    pids, mods = [], []
    for i in range(len(dataset)):
        if isinstance(dataset, BaseDataset):
            info = BaseDataset.get_data_info(dataset, i)
        else:
            info = dataset.get_data_info(i)
        pid = info.get('label', info.get('pid'))
        if pid is None:
            raise KeyError(f'{type(dataset).__name__}: sample {i} has neither label nor pid; '
                           'the cross-modality sampler needs one of them.')
        mod = info.get('modality')
        if mod is None:
            raise KeyError(f'{type(dataset).__name__}: sample {i} ({info.get("img_path", "?")}) '
                           "has no 'modality' field; the cross-modality sampler needs "
                           "'visible' / 'infrared' on every training sample.")
        pids.append(int(pid))
        mods.append(str(mod))
    return pids, mods


@DATA_SAMPLERS.register_module()
class CrossModalityIdentitySampler(Sampler):
    """Yields batches of ``P = batch_size // (2 * num_instances)`` distinct identities, each with
    ``K = num_instances`` images of the first modality followed by ``K`` of the second (AGW's
    and SIM's training batches: e.g. 8 or 16 identities x (4 visible + 4 infrared)).

    Per epoch each identity contributes ``max(n_visible, n_infrared, K) // K`` groups; the
    images of each modality are shuffled and consumed in order, a modality with fewer images
    than the identity's groups need is cycled (re-shuffled on each pass; a group straddling two
    passes may repeat an image), and one with fewer than ``K`` images is drawn with
    replacement. Batches take P identities at random among those
    with groups left (a new pass starts when fewer than P remain). Every rank draws the same
    epoch plan from a shared seed and takes every ``world_size``-th batch, so each rank's batch
    is a complete P x (K + K) batch.

    Args:
        dataset: a dataset whose raw data info has ``label`` (or ``pid``) and ``modality``.
        batch_size: per-GPU batch size; MUST equal the dataloader's ``batch_size`` and be a
            multiple of ``2 * num_instances``.
        num_instances: K, images per identity AND modality.
        modalities: the two modality names, in batch order.
        shuffle: shuffle identities and images (False gives a fixed plan, for debugging).
        seed: base seed; ``None`` draws one and syncs it across ranks.
        skip_incomplete: identities lacking a modality raise a ``ValueError`` (default) or, when
            True, are left out of the sampling (with a logged count).

    Examples::
        >>> train_dataloader = dict(batch_size=64, sampler=dict(
        ...     type='CrossModalityIdentitySampler', batch_size=64, num_instances=4), ...)
    """

    def __init__(self, dataset, batch_size: int, num_instances: int = 4,
                 modalities: Sequence[str] = ('visible', 'infrared'), shuffle: bool = True,
                 seed: Optional[int] = None, skip_incomplete: bool = False):
        name = type(self).__name__
        if num_instances < 1 or batch_size < 1 or batch_size % (2 * num_instances):
            raise ValueError(
                f'{name}: batch_size={batch_size} must be a positive multiple of 2 x '
                f'num_instances={2 * num_instances} (a batch is P identities x (K + K) images).')
        modalities = tuple(modalities)
        if len(modalities) != 2 or modalities[0] == modalities[1]:
            raise ValueError(f'{name}: modalities must be two distinct names, got {modalities}.')
        self.dataset = dataset
        self.batch_size = batch_size
        self.num_instances = num_instances
        self.num_pids_per_batch = batch_size // (2 * num_instances)
        self.modalities = modalities
        self.shuffle = shuffle
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0

        pids, mods = _dataset_pids_modalities(dataset)
        unknown = sorted(set(mods) - set(modalities))
        if unknown:
            raise ValueError(f'{name}: samples have modality {unknown}, expected only '
                             f'{modalities} (sampler.modalities).')
        index: Dict[int, Tuple[List[int], List[int]]] = defaultdict(lambda: ([], []))
        for idx, (pid, mod) in enumerate(zip(pids, mods)):
            index[pid][modalities.index(mod)].append(idx)
        incomplete = {p: (len(v[0]), len(v[1])) for p, v in index.items()
                      if not v[0] or not v[1]}
        if incomplete:
            shown = ', '.join(f'pid {p}: {a} {modalities[0]} / {b} {modalities[1]}'
                              for p, (a, b) in sorted(incomplete.items())[:5])
            more = f' (+{len(incomplete) - 5} more)' if len(incomplete) > 5 else ''
            if not skip_incomplete:
                raise ValueError(
                    f'{name}: {len(incomplete)} identities lack one modality ({shown}{more}); '
                    'every training identity needs images of both modalities. Fix the training '
                    'split or set sampler.skip_incomplete=True to leave them out.')
            print_log(f'{name}: leaving out {len(incomplete)} identities that lack one '
                      f'modality ({shown}{more}).', logger='current', level=30)
        self.index_by_pid = {p: v for p, v in index.items() if p not in incomplete}
        self.pids = sorted(self.index_by_pid)
        if len(self.pids) < self.num_pids_per_batch:
            raise ValueError(
                f'{name}: {len(self.pids)} identities have both modalities but a batch needs '
                f'P={self.num_pids_per_batch} (batch_size {batch_size} / (2 x num_instances '
                f'{num_instances})); lower batch_size.')
        groups = sum(self._num_groups(p) for p in self.pids)
        self.num_batches = max(1, groups // self.num_pids_per_batch // self.world_size)

    def _num_groups(self, pid: int) -> int:
        vis, ir = self.index_by_pid[pid]
        return max(len(vis), len(ir), self.num_instances) // self.num_instances

    def _draw(self, rng: np.random.Generator, idxs: Sequence[int], count: int) -> List[List[int]]:
        """``count`` groups of K indices from ``idxs`` (shuffled passes; with replacement when
        fewer than K images)."""
        k = self.num_instances
        idxs = np.asarray(idxs)
        if len(idxs) < k:
            return [list(map(int, rng.choice(idxs, size=k, replace=True))) for _ in range(count)]
        stream: List[int] = []
        while len(stream) < count * k:
            stream.extend(map(int, rng.permutation(idxs) if self.shuffle else idxs))
        return [stream[i * k:(i + 1) * k] for i in range(count)]

    def _groups(self, rng: np.random.Generator, per_pid: Optional[int] = None
                ) -> Dict[int, List[List[int]]]:
        out = {}
        for pid in self.pids:
            n = self._num_groups(pid) if per_pid is None else per_pid
            vis, ir = self.index_by_pid[pid]
            out[pid] = [a + b for a, b in zip(self._draw(rng, vis, n), self._draw(rng, ir, n))]
        return out

    def _plan(self) -> List[List[int]]:
        rng = np.random.default_rng(self.seed + self.epoch)
        groups = self._groups(rng)
        batches: List[List[int]] = []
        avail = [p for p in self.pids if groups[p]]
        total = self.num_batches * self.world_size
        while len(batches) < total:
            if len(avail) < self.num_pids_per_batch:  # start a new pass over identities
                for p, more in self._groups(rng, per_pid=1).items():
                    groups[p].extend(more)
                avail = [p for p in self.pids if groups[p]]
            chosen = (rng.choice(avail, size=self.num_pids_per_batch, replace=False)
                      if self.shuffle else avail[:self.num_pids_per_batch])
            batch: List[int] = []
            for p in chosen:
                batch.extend(groups[int(p)].pop(0))
            batches.append(batch)
            avail = [p for p in avail if groups[p]]
        return batches

    def __iter__(self) -> Iterator[int]:
        for batch in self._plan()[self.rank::self.world_size]:
            yield from batch

    def __len__(self) -> int:
        return self.num_batches * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Called by MMEngine's loop each epoch: a new plan per epoch, same on every rank."""
        self.epoch = epoch


__all__ = ['CrossModalityIdentitySampler']
