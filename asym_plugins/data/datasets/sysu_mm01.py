"""SYSU-MM01 parser (infrared-visible)."""
import os.path as osp
import re
from typing import Dict, List

from asym_plugins.registry import DATASETS

from .base import DatasetFormatError
from .file_layout import FileLayoutDataset

VISIBLE_CAMS = (1, 2, 4, 5)
INFRARED_CAMS = (3, 6)
INDOOR_VISIBLE_CAMS = (1, 2)


@DATASETS.register_module()
class SYSUMM01(FileLayoutDataset):
    """SYSU-MM01 (Wu et al., ICCV 2017): 491 identities, 4 visible + 2 infrared cameras.

    Layout (``data_root`` may be ``SYSU-MM01/`` itself or its parent)::

        SYSU-MM01/
        ├── cam1/0001/0001.jpg ...   visible, indoor
        ├── cam2/ ...                visible, indoor (same room as cam3)
        ├── cam3/ ...                infrared, indoor
        ├── cam4/ cam5/ ...          visible, outdoor
        ├── cam6/ ...                infrared, outdoor
        ├── exp/train_id.txt         one line of comma-separated ids: '1,2,4,5,7,...'
        ├── exp/val_id.txt
        ├── exp/test_id.txt
        └── part_masks/              (synthetic data only) masks mirroring the image paths

    Identity folders are the ids zero-padded to 4 digits; pid = the id. ``camid`` is 0-based
    (``camK`` -> ``K - 1``, so the official 'cam 3 query vs cam 2 gallery' exclusion reads
    ``q_camid == 2 and g_camid == 1``); ``modality`` is ``'infrared'`` for cams 3 and 6,
    ``'visible'`` otherwise.

    Splits:

    * 'train': every image (both modalities, all six cameras) of ``train_id`` + ``val_id``
      (395 ids; ~22,258 visible / ~11,909 infrared images), relabelled;
    * 'query': every infrared image of the test ids from cams 3 and 6 (~3,803), both search
      modes;
    * 'gallery': the gallery POOL, every visible image of the test ids from cams 1, 2, 4, 5
      (``search_mode='all'``) or cams 1, 2 (``'indoor'``). The SYSU protocol metric samples the
      single-shot / multi-shot gallery of each of its 10 trials from this pool.

    Identities listed in ``exp/*.txt`` without any image folder are skipped with a logged count.

    Args:
        data_root: see above.
        split: ``'train'`` | ``'query'`` | ``'gallery'``.
        search_mode: ``'all'`` | ``'indoor'`` (gallery cameras).
        verify_images: decode every image at scan time.

    Examples::
        >>> gallery = SYSUMM01(data_root='data/SYSU-MM01', split='gallery', search_mode='indoor')
    """

    DATASET_NAME = 'SYSU-MM01'
    ROOT_NAMES = ('SYSU-MM01', 'SYSU_MM01', 'sysu_mm01', 'SYSU-MM01/SYSU-MM01', 'sysu')
    ID_FILE_EXAMPLE = '1,2,4,5,7,8,9,10'
    NAME_PATTERN = re.compile(r'^\d+\.(jpg|jpeg|png)$', re.IGNORECASE)
    NAME_EXAMPLE = '0001.jpg'

    def __init__(self, data_root: str = '', split: str = 'train', search_mode: str = 'all',
                 **kwargs):
        if search_mode not in ('all', 'indoor'):
            raise ValueError(f"SYSUMM01: search_mode={search_mode!r}; expected 'all' or 'indoor'.")
        self.search_mode = search_mode
        super().__init__(data_root=data_root, split=split, **kwargs)

    def read_ids(self, path: str) -> List[int]:
        """Parse an ``exp/*_id.txt`` file: comma-separated integers (line breaks allowed)."""
        if not osp.isfile(path):
            raise FileNotFoundError(f'SYSU-MM01: id file {path!r} does not exist.')
        with open(path, 'r', encoding='utf-8') as f:
            text = f.read()
        tokens = [t.strip() for t in re.split(r'[,\s]+', text) if t.strip()]
        try:
            return [int(t) for t in tokens]
        except ValueError:
            raise DatasetFormatError(
                f'SYSU-MM01: {path} is not a list of comma-separated integer ids (expected one '
                f'line like {self.ID_FILE_EXAMPLE!r}); read {text[:60]!r}.') from None

    def parse_split(self) -> List[Dict]:
        id_files = (['exp/train_id.txt', 'exp/val_id.txt'] if self.split == 'train'
                    else ['exp/test_id.txt'])
        if self.split == 'train':
            cams = VISIBLE_CAMS + INFRARED_CAMS
        elif self.split == 'query':
            cams = INFRARED_CAMS
        else:
            cams = VISIBLE_CAMS if self.search_mode == 'all' else INDOOR_VISIBLE_CAMS
        root = self.resolve_dataset_root(id_files + [f'cam{c}' for c in sorted(cams)])
        pids = []
        for f in id_files:
            pids += self.read_ids(osp.join(root, f))
        samples, missing = [], 0
        for pid in sorted(set(pids)):
            found = False
            for cam in sorted(cams):
                folder = osp.join(root, f'cam{cam}', f'{pid:04d}')
                if not osp.isdir(folder):
                    continue
                found = True
                for path in self.list_images(folder):
                    self.match_name(self.NAME_PATTERN, path, self.NAME_EXAMPLE)
                    samples.append(dict(
                        img_path=path, pid=pid, camid=cam - 1,
                        modality='infrared' if cam in INFRARED_CAMS else 'visible'))
            missing += not found
        self.log_skipped(missing, f'ids of {id_files} without an image folder in cams {cams}')
        return samples
