"""RegDB parser (visible-thermal)."""
import logging
import os.path as osp
from typing import Dict, List, Optional

from mmengine.logging import print_log

from asym_plugins.registry import DATASETS

from .base import DatasetFormatError
from .file_layout import FileLayoutDataset

MODES = ('visible_to_thermal', 'thermal_to_visible')
_WARNED = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        print_log(message, logger='current', level=logging.WARNING)


@DATASETS.register_module()
class RegDB(FileLayoutDataset):
    """RegDB (Nguyen et al., Sensors 2017): 412 identities x (10 visible + 10 thermal images).

    Layout (``data_root`` may be ``RegDB/`` itself or its parent)::

        RegDB/
        ├── Visible/1/male_front_v_00007_1.bmp ...
        ├── Thermal/1/male_front_t_00007_1.bmp ...
        ├── idx/train_visible_{1..10}.txt   lines 'Visible/1/male_front_v_00007_1.bmp 0'
        ├── idx/train_thermal_{1..10}.txt
        ├── idx/test_visible_{1..10}.txt
        ├── idx/test_thermal_{1..10}.txt
        └── part_masks/    (synthetic data only) masks mirroring the image paths, .png

    Paths in the idx files are relative to the RegDB folder; pid = the line's label.
    ``camid`` 0 for visible and 1 for thermal (``modality`` 'visible' / 'infrared'), so the
    same-camera rule never removes a cross-modality match. Each trial splits the ids 206/206
    (2,060 test images per modality); the model of trial ``t`` is evaluated on trial ``t``.

    Splits of trial ``trial``: 'train' = ``train_visible_t`` + ``train_thermal_t``;
    ``mode='visible_to_thermal'``: 'query' = ``test_visible_t``, 'gallery' = ``test_thermal_t``;
    ``mode='thermal_to_visible'``: the reverse. ``mode`` only names which test file is the
    'query' split: under ``RegDBMetric`` (the configs' metric) both directions are scored from
    the modality of each image (``v2t_*`` and ``t2v_*``) and ``mode`` has no effect (a
    ``thermal_to_visible`` test set logs a warning saying so); it decides the direction only
    for a query/gallery metric such as ``ReIDMetric``. The 'train' split reads both
    modalities and refuses ``mode``. Give the query and the gallery the same ``mode``.

    Args:
        data_root: see above.
        split: ``'train'`` | ``'query'`` | ``'gallery'``.
        trial: 1..10.
        mode: ``'visible_to_thermal'`` (default) | ``'thermal_to_visible'``; test splits only.
        verify_images: decode every image at scan time.

    Examples::
        >>> q = RegDB(data_root='data/RegDB', split='query', trial=3, mode='thermal_to_visible')
    """

    DATASET_NAME = 'RegDB'
    ROOT_NAMES = ('RegDB', 'regdb', 'RegDB/RegDB')
    LINE_EXAMPLE = 'Visible/1/male_front_v_00007_1.bmp 0'

    def __init__(self, data_root: str = '', split: str = 'train', trial: int = 1,
                 mode: Optional[str] = None, **kwargs):
        if int(trial) != trial or not 1 <= trial <= 10:
            raise ValueError(f'RegDB: trial={trial!r}; expected an integer in 1..10.')
        if mode is not None and split == 'train':
            raise ValueError(
                f"RegDB: mode={mode!r} has no effect on split='train' (it reads both "
                "modalities' files); remove mode from the training dataset "
                '(train_dataloader.dataset.mode).')
        mode = MODES[0] if mode is None else mode
        if mode not in MODES:
            raise ValueError(f'RegDB: mode={mode!r}; expected one of {MODES}.')
        if mode != MODES[0]:
            _warn_once('RegDB: mode=\'thermal_to_visible\' only swaps the query and gallery '
                       'files; RegDBMetric scores both directions (v2t_*, t2v_*) whatever the '
                       'mode, so under it this setting has no effect. It decides the direction '
                       'only for a query/gallery metric such as ReIDMetric; give the query and '
                       'gallery datasets the same mode.')
        self.trial = int(trial)
        self.mode = mode
        super().__init__(data_root=data_root, split=split, **kwargs)

    def _idx_files(self) -> List[str]:
        t = self.trial
        if self.split == 'train':
            return [f'idx/train_visible_{t}.txt', f'idx/train_thermal_{t}.txt']
        query_visible = self.mode == 'visible_to_thermal'
        visible = (self.split == 'query') == query_visible
        return [f'idx/test_{"visible" if visible else "thermal"}_{t}.txt']

    def parse_split(self) -> List[Dict]:
        files = self._idx_files()
        root = self.resolve_dataset_root(files)
        samples = []
        for f in files:
            list_path = osp.join(root, f)
            thermal = 'thermal' in osp.basename(f)
            for path, label, where in self.read_list_entries(list_path, self.LINE_EXAMPLE,
                                                             root):
                if not osp.isfile(path):
                    raise DatasetFormatError(
                        f'RegDB: {where} lists {osp.relpath(path, root)!r} but {path!r} does not '
                        f'exist (paths are relative to the RegDB folder, e.g. '
                        f'{self.LINE_EXAMPLE!r}).')
                samples.append(dict(img_path=path, pid=label, camid=int(thermal),
                                    modality='infrared' if thermal else 'visible'))
        return samples
