"""``SyntheticReIDDataset``: a split of the synthetic world as an MMEngine dataset.

Images are rendered on the fly in :meth:`get_data_info` (so in the dataloader workers), never
stored on disk; ``cache=True`` keeps each rendered image in the (per-process) memory after its
first use.
"""
from typing import Dict, List, Optional, Sequence

from asym_plugins.data.datasets.base import ReIDDataset
from asym_plugins.registry import DATASETS

from .world import SyntheticWorld


@DATASETS.register_module()
class SyntheticReIDDataset(ReIDDataset):
    """A train / query / gallery split of a :class:`SyntheticWorld` scenario.

    Samples are the world's records (see :class:`SyntheticWorld`) plus ``img_path``, a virtual
    name ``synthetic/<preset>/<split>/<pid:04d>_c<cam>_<index:05d>.png`` (``cam`` 1-based, as
    in real file names) for logs and visualisations. :meth:`get_data_info` adds ``img``
    (uint8 HxWx3 RGB), ``part_mask`` (uint8 HxW: 0 background, 1 head, 2 upper body, 3 lower
    body, 4 shoes, 5 bag, 6 occluder), ``img_shape`` and ``ori_shape``; the loading transform
    skips reading a file when ``img`` is present.

    Args:
        preset: world scenario (``'holistic'``, ``'occluded'``, ``'partial'``, ``'infrared'``,
            ``'text'``).
        seed: world seed (use the same seed for the train, query and gallery datasets).
        split: ``'train'``, ``'query'`` or ``'gallery'``.
        num_train_ids / num_test_ids: identity counts (preset default when ``None``).
        img_size: (H, W) of rendered images.
        world_cfg: other :class:`SyntheticWorld` overrides (keys of its presets).
        cache: keep rendered images in memory after first use.
        **kwargs: :class:`ReIDDataset` / ``BaseDataset`` arguments (``pipeline``, ``relabel``,
            ``test_mode``, ``indices``, ``lazy_init``...).

    Examples::
        >>> ds = SyntheticReIDDataset(preset='holistic', split='query', num_train_ids=4,
        ...                           num_test_ids=3)
        >>> s = ds[0]
        >>> s['img'].shape, s['part_mask'].shape, s['img_path'].startswith('synthetic/')
        ((128, 64, 3), (128, 64), True)
    """

    def __init__(self,
                 preset: str = 'holistic',
                 seed: int = 0,
                 split: str = 'train',
                 num_train_ids: Optional[int] = None,
                 num_test_ids: Optional[int] = None,
                 img_size: Sequence[int] = (128, 64),
                 world_cfg: Optional[Dict] = None,
                 cache: bool = False,
                 data_root: str = '',
                 **kwargs):
        self.world = SyntheticWorld(preset=preset, seed=seed, num_train_ids=num_train_ids,
                                    num_test_ids=num_test_ids, img_size=tuple(img_size),
                                    **(world_cfg or {}))
        self.cache = cache
        self._rendered: Dict[int, Dict] = {}
        super().__init__(data_root=data_root, split=split, **kwargs)
        self._metainfo.update(preset=preset, seed=seed)

    def __getstate__(self):
        # Workers re-render (or re-cache) on their own; do not ship cached pixels.
        state = self.__dict__.copy()
        state['_rendered'] = {}
        return state

    def parse_split(self) -> List[Dict]:
        preset = self.world.preset
        samples = self.world.records(self.split)
        for s in samples:
            s['img_path'] = (f"synthetic/{preset}/{self.split}/{s['pid']:04d}_c{s['camid'] + 1}"
                             f"_{s['index']:05d}.png")
        return samples

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        key = info['sample_idx']
        out = self._rendered.get(key) if self.cache else None
        if out is None:
            out = self.world.render(info)
            if self.cache:
                self._rendered[key] = out
        info['img'] = out['img'].copy() if self.cache else out['img']
        info['part_mask'] = out['mask'].copy() if self.cache else out['mask']
        info['img_shape'] = info['ori_shape'] = out['img'].shape[:2]
        return info
