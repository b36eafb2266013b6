"""MSMT17 parser (V1 and V2 releases)."""
import os.path as osp
import re
from typing import Dict, List, Optional

from asym_plugins.registry import DATASETS

from .base import DatasetFormatError
from .file_layout import FileLayoutDataset

_VERSION_DIRS = {'V1': ('train', 'test'), 'V2': ('mask_train_v2', 'mask_test_v2')}
_LIST_FILES = {'query': 'list_query.txt', 'gallery': 'list_gallery.txt'}


@DATASETS.register_module()
class MSMT17(FileLayoutDataset):
    """MSMT17 (Wei et al., CVPR 2018): 4,101 identities, 15 cameras.

    Layout (``data_root`` may be the release folder, its parent, torchreid's
    ``msmt17/MSMT17_V1/`` nesting, or TransReID's ``MSMT17/`` holding ``train``/``test``)::

        MSMT17_V1/                      (MSMT17_V2/: mask_train_v2/, mask_test_v2/)
        ├── train/0000/0000_000_01_0303morning_0015_0.jpg ...
        ├── test/0000/0000_000_01_0303morning_0036_1.jpg ...
        ├── list_train.txt    lines '0000/0000_000_01_0303morning_0015_0.jpg 0' (under train/)
        ├── list_val.txt      same format, images of the training identities (under train/)
        ├── list_query.txt    paths under test/; test labels restart at 0
        ├── list_gallery.txt
        └── part_masks/       (synthetic data only) masks mirroring the image paths, .png

    ``pid`` is the list file's label. ``camid = int(name.split('_')[2]) - 1`` (0-based, cameras
    1..15; a one-digit ``_c(\\d)`` regex would misread cameras 10-15). ``modality='visible'``.
    Split 'train' = ``list_train`` + ``list_val`` (32,621 images, as TransReID/PFD train) by
    default; ``combine_val=False`` gives ``list_train`` only (30,248, the torchreid/fast-reid
    default without ``combineall``). Query 11,659 / gallery 82,161 images.

    Args:
        data_root: see above.
        split: ``'train'`` | ``'query'`` | ``'gallery'``.
        version: ``'V1'``, ``'V2'`` or None (detect from the image folders present).
        combine_val: add ``list_val.txt`` to the training split (default True).
        verify_images: decode every image at scan time.

    Examples::
        >>> ds = MSMT17(data_root='data/msmt17', split='train', combine_val=False)
    """

    DATASET_NAME = 'MSMT17'
    ROOT_NAMES = ('MSMT17_V1', 'MSMT17_V2', 'msmt17/MSMT17_V1', 'msmt17/MSMT17_V2', 'MSMT17',
                  'msmt17')
    NAME_PATTERN = re.compile(r'^(\d+)_(\d+)_(\d+)_')
    NAME_EXAMPLE = '0000_000_01_0303morning_0015_0.jpg'
    LIST_EXAMPLE = '0000/0000_000_01_0303morning_0015_0.jpg 0'
    NUM_CAMS = 15

    def __init__(self, data_root: str = '', split: str = 'train', version: Optional[str] = None,
                 combine_val: bool = True, **kwargs):
        if version is not None:
            version = version.upper().replace('MSMT17_', '')
            if version not in _VERSION_DIRS:
                raise ValueError(f'MSMT17: version={version!r}; expected "V1", "V2" or None.')
        self.version = version
        self.combine_val = combine_val
        super().__init__(data_root=data_root, split=split, **kwargs)

    def _lists(self) -> List[str]:
        if self.split == 'train':
            return ['list_train.txt'] + (['list_val.txt'] if self.combine_val else [])
        return [_LIST_FILES[self.split]]

    def parse_split(self) -> List[Dict]:
        lists = self._lists()
        img_dir_idx = 0 if self.split == 'train' else 1
        if self.version is None:  # detect the release from the image folders present
            self.version = 'V1'
            for v in ('V1', 'V2'):
                if any(osp.isdir(osp.join(self.data_root or '', c, d))
                       for c in ('',) + self.ROOT_NAMES for d in _VERSION_DIRS[v]):
                    self.version = v
                    break
        root = self.resolve_dataset_root([_VERSION_DIRS[self.version][img_dir_idx]] + lists)
        img_dir = osp.join(root, _VERSION_DIRS[self.version][img_dir_idx])
        samples = []
        for list_name in lists:
            list_path = osp.join(root, list_name)
            for path, label, where in self.read_list_entries(list_path, self.LIST_EXAMPLE,
                                                             img_dir):
                rel = osp.relpath(path, img_dir)
                m = self.match_name(self.NAME_PATTERN, path, self.NAME_EXAMPLE)
                cam = int(m.group(3))
                if not 1 <= cam <= self.NUM_CAMS:
                    raise DatasetFormatError(
                        f'MSMT17: {path} (listed in {list_path}) has camera {cam}; expected '
                        f'1..{self.NUM_CAMS} in the third field of {self.NAME_EXAMPLE!r}.')
                if not osp.isfile(path):
                    raise DatasetFormatError(
                        f'MSMT17: {where} lists {rel!r} but {path!r} does not exist.')
                samples.append(dict(img_path=path, pid=label, camid=cam - 1,
                                    modality='visible'))
        return samples
