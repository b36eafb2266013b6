"""``ReIDDataset``: the MMEngine dataset every Re-ID parser of this package builds on."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from asym_plugins.engine.cli import MissingInputError, UserError
from asym_plugins.registry import DATASETS

SPLITS = ('train', 'query', 'gallery')
MODALITIES = ('visible', 'infrared')


class DatasetFormatError(UserError, ValueError):
    """A dataset on disk does not have the expected layout or content (a user error: the
    command-line tools print it without a traceback)."""


@DATASETS.register_module()
class ReIDDataset(BaseDataset):
    """A Re-ID split as a list of sample dicts.

    A sample is a plain dict: ``img_path`` (str), ``pid`` (int; -1 junk, 0 may be a distractor),
    ``camid`` (int, 0-based), ``modality`` (``'visible'`` | ``'infrared'``), optionally
    ``captions`` (list of str) and ``part_mask_path`` (str). For training (``relabel=True``,
    the default for ``split='train'``) every sample also gets ``label``: the pid mapped to
    ``0..num_pids-1`` in sorted pid order.

    Subclasses implement :meth:`parse_split` and return raw samples; this class validates them,
    relabels, and records ``metainfo`` (``num_pids``, ``num_cams``, ``num_imgs``).

    Args:
        data_root: dataset root folder.
        split: ``'train'``, ``'query'`` or ``'gallery'``.
        relabel: map pids to contiguous labels; default ``split == 'train'``.
        data_list: explicit samples (used when a subclass does not override ``parse_split``),
            e.g. ``[dict(img_path='a.jpg', pid=1, camid=0)]``.
        **kwargs: passed to :class:`mmengine.dataset.BaseDataset` (``pipeline``,
            ``test_mode``, ``indices``, ``serialize_data``, ``lazy_init``...).

    Examples::
        >>> ds = ReIDDataset(data_list=[dict(img_path='x.jpg', pid=7, camid=1)], split='train')
        >>> ds.get_data_info(0)['label']
        0
    """

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train',
                 relabel: Optional[bool] = None,
                 data_list: Optional[Sequence[Dict]] = None,
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f'{type(self).__name__}: split={split!r}; expected one of {SPLITS}.')
        self.split = split
        self.relabel = (split == 'train') if relabel is None else relabel
        self._explicit_data_list = None if data_list is None else [dict(d) for d in data_list]
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(data_root=data_root, ann_file='', **kwargs)

    # -- to implement in subclasses -------------------------------------------------------
    def parse_split(self) -> List[Dict]:
        """Return the raw samples of ``self.split`` (see the class docstring for the keys)."""
        if self._explicit_data_list is None:
            raise NotImplementedError(
                f'{type(self).__name__} must implement parse_split() or be given data_list=.')
        return self._explicit_data_list

    def check_data_root(self, *subdirs: str) -> None:
        """Raise a clear error when ``data_root`` or one of ``subdirs`` is missing."""
        if not self.data_root or not osp.isdir(self.data_root):
            raise MissingInputError(
                f'{type(self).__name__}: data_root {self.data_root!r} does not exist. Set '
                f"data_root in the config (e.g. --cfg-options "
                f"train_dataloader.dataset.data_root=/path/to/data) to the folder that holds "
                f"{', '.join(subdirs) or 'the dataset'}.")
        for sub in subdirs:
            path = osp.join(self.data_root, sub)
            if not osp.exists(path):
                raise MissingInputError(
                    f'{type(self).__name__}: expected {path!r} under data_root '
                    f'{self.data_root!r}; the dataset layout is described in the docstring of '
                    f'{type(self).__module__}.{type(self).__name__}.')

    # -- MMEngine hooks -------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        samples = self.parse_split()
        if not samples:
            raise DatasetFormatError(
                f'{type(self).__name__}: split {self.split!r} under {self.data_root!r} is empty; '
                'check data_root and the split folders/list files.')
        for i, s in enumerate(samples):
            missing = [k for k in ('pid', 'camid') if k not in s]
            if missing or ('img_path' not in s and 'img' not in s):
                raise DatasetFormatError(
                    f'{type(self).__name__}: sample {i} ({s.get("img_path", "?")}) lacks '
                    f'{missing or ["img_path"]}; every sample needs img_path, pid, camid.')
            s['pid'] = int(s['pid'])
            s['split'] = self.split
            s['camid'] = int(s['camid'])
            s.setdefault('modality', 'visible')
            if s['modality'] not in MODALITIES:
                raise DatasetFormatError(
                    f'{type(self).__name__}: sample {s.get("img_path")} has modality '
                    f'{s["modality"]!r}; expected one of {MODALITIES}.')
        if self.relabel:
            junk = sum(s['pid'] < 0 for s in samples)
            if junk:
                print_log(f'{type(self).__name__}: dropped {junk} junk samples (pid < 0) from '
                          f'the {self.split} split.', logger='current')
                samples = [s for s in samples if s['pid'] >= 0]
            pid2label = {p: i for i, p in enumerate(sorted({s['pid'] for s in samples}))}
            for s in samples:
                s['label'] = pid2label[s['pid']]
        self._metainfo.update(
            num_pids=len({s['pid'] for s in samples}),
            num_cams=len({s['camid'] for s in samples}),
            num_imgs=len(samples),
            split=self.split)
        return samples

    def get_pid(self, idx: int) -> int:
        """Training label (or pid) of sample ``idx`` without loading or rendering the image."""
        info = BaseDataset.get_data_info(self, idx)
        return info.get('label', info['pid'])

    @property
    def num_classes(self) -> int:
        """Number of training identities (after relabelling)."""
        return self.metainfo['num_pids']
