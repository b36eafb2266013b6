"""Text-image person retrieval datasets: CUHK-PEDES, ICFG-PEDES, RSTPReid."""
import json
import os.path as osp
from typing import Dict, List, Sequence

from asym_plugins.registry import DATASETS

from .base import DatasetFormatError
from .file_layout import FileLayoutDataset


def _json_line(path: str, value: str):
    """The 1-based line of ``path`` where the JSON string ``value`` first appears (None if
    not found as written), for error messages."""
    with open(path, 'r', encoding='utf-8') as f:
        text = f.read()
    for needle in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        pos = text.find(needle)
        if pos >= 0:
            return text.count('\n', 0, pos) + 1
    return None


class TextPedesDataset(FileLayoutDataset):
    """Base of the caption datasets: one JSON list of image entries with captions.

    Every entry is a dict with ``split`` ('train' / 'val' / 'test'), ``captions`` (list of
    str), ``id`` (identity) and the image path (key ``PATH_KEY``, relative to ``<root>/imgs``).

    Splits (all samples have ``camid=0``, ``modality='visible'``):

    * 'train': the images of ``split == 'train'``, each with its ``captions`` (relabelled);
    * 'gallery': the images of ``split == test_split`` (no captions);
    * 'query': the same images carrying their ``captions``; the text-to-image metric uses every
      caption as one query, and its positives are the gallery images of the same pid (no camera
      filtering). ``metainfo['num_captions']`` counts them.

    Errors name the file: malformed JSON (with the position), an entry without ``split``, an
    image path key, or ``captions``, and an image path that does not exist.
    """

    ANN_FILES: Sequence[str] = ()
    PATH_KEY = 'file_path'
    ID_OFFSET = 0  # subtracted from the entry's id to give pid
    IMG_DIR = 'imgs'

    def __init__(self, data_root: str = '', split: str = 'train', test_split: str = 'test',
                 **kwargs):
        if test_split not in ('test', 'val'):
            raise ValueError(f"{type(self).__name__}: test_split={test_split!r}; expected 'test' "
                             "or 'val'.")
        self.test_split = test_split
        super().__init__(data_root=data_root, split=split, **kwargs)

    def _missing_split_hint(self, ann_path: str) -> str:
        return ''

    def find_annotation_file(self) -> str:
        last_err = None
        for name in self.ANN_FILES:
            try:
                root = self.resolve_dataset_root([name, self.IMG_DIR])
                return osp.join(root, name)
            except FileNotFoundError as err:
                last_err = last_err or err
        raise last_err

    def parse_split(self) -> List[Dict]:
        ann_path = self.find_annotation_file()
        img_root = osp.join(self.dataset_root, self.IMG_DIR)
        entries = self.load_json(ann_path)
        if not isinstance(entries, list):
            raise DatasetFormatError(
                f'{self._name}: {ann_path} holds a JSON {type(entries).__name__}; expected a list '
                f'of entries like {{"split": "train", "captions": ["..."], '
                f'"{self.PATH_KEY}": "...", "id": 1}}.')
        wanted = 'train' if self.split == 'train' else self.test_split
        samples = []
        for i, e in enumerate(entries):
            if not isinstance(e, dict):
                raise DatasetFormatError(f'{self._name}: {ann_path} entry {i} is not an object.')
            if 'split' not in e:
                raise DatasetFormatError(
                    f"{self._name}: {ann_path} entry {i} has no 'split' key; every entry needs "
                    f"'split' ('train'/'val'/'test'). {self._missing_split_hint(ann_path)}")
            if e['split'] != wanted:
                continue
            rel = e.get(self.PATH_KEY)
            if not rel:
                raise DatasetFormatError(
                    f'{self._name}: {ann_path} entry {i} (id {e.get("id")}) has no image path '
                    f'{self.PATH_KEY!r}; entries need "{self.PATH_KEY}": "<path under '
                    f'{self.IMG_DIR}/>".')
            if not isinstance(rel, str):
                raise DatasetFormatError(
                    f'{self._name}: {ann_path} entry {i}: {self.PATH_KEY!r} is '
                    f'{type(rel).__name__}; expected a path string under {self.IMG_DIR}/.')
            try:
                path = self.resolve_listed(img_root, rel,
                                           f'{ann_path} entry {i} (id {e.get("id")})')
            except DatasetFormatError as err:
                line = _json_line(ann_path, rel)
                if line is None:
                    raise
                raise DatasetFormatError(str(err).replace(
                    f'{ann_path} entry', f'{ann_path}:{line}: entry', 1)) from None
            if not osp.isfile(path):
                raise DatasetFormatError(
                    f'{self._name}: {ann_path} entry {i} points to {rel!r} but {path!r} does not '
                    f'exist (image paths are relative to {img_root}).')
            if 'id' not in e:
                raise DatasetFormatError(f"{self._name}: {ann_path} entry {i} ({rel}) has no 'id'.")
            pid = e['id']
            if isinstance(pid, str) and pid.isascii() and pid.isdigit():
                pid = int(pid)
            if isinstance(pid, bool) or not isinstance(pid, int):
                raise DatasetFormatError(
                    f"{self._name}: {ann_path} entry {i} ({rel}) has 'id' {pid!r}; expected an "
                    'integer identity (e.g. "id": 12).')
            captions = e.get('captions')
            if isinstance(captions, str):
                captions = [captions]
            if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
                raise DatasetFormatError(
                    f"{self._name}: {ann_path} entry {i} ({rel}) needs 'captions' as a list of "
                    f'strings; got {type(captions).__name__}.')
            sample = dict(img_path=path, pid=pid - self.ID_OFFSET, camid=0,
                          modality='visible')
            if self.split != 'gallery':
                sample['captions'] = list(captions)
            samples.append(sample)
        return samples

    def extra_metainfo(self, samples: List[Dict]) -> Dict:
        return dict(num_captions=sum(len(s.get('captions', ())) for s in samples))


@DATASETS.register_module()
class CUHKPEDES(TextPedesDataset):
    """CUHK-PEDES (Li et al., CVPR 2017): 13,003 ids, 40,206 images, ~80k captions.

    Layout (``data_root`` may be ``CUHK-PEDES/`` itself or its parent)::

        CUHK-PEDES/
        ├── imgs/CUHK01/0363004.png, imgs/test_query/p10376_s14337.jpg, ...
        ├── reid_raw.json    [{"split": "train", "captions": [..], "file_path":
        │                      "CUHK01/0363004.png", "id": 1, "processed_tokens": [..]}, ...]
        └── part_masks/      (synthetic data only) masks mirroring imgs/, .png

    ``id`` is 1-based: pid = id - 1 (as IRRA trains). The original release's ``caption_all.json``
    has no ``split`` key; it is only read when ``reid_raw.json`` is absent, and then fails with
    an error saying to use ``reid_raw.json``. Splits: see :class:`TextPedesDataset` (train 11,003
    ids / 34,054 images; test 1,000 ids / 3,074 images / 6,156 captions).

    Args:
        data_root: see above.
        split: ``'train'`` | ``'query'`` (test images with captions) | ``'gallery'``.
        test_split: annotation split behind 'query'/'gallery': ``'test'`` or ``'val'``.
        verify_images: decode every image at scan time.
    """

    DATASET_NAME = 'CUHK-PEDES'
    ROOT_NAMES = ('CUHK-PEDES', 'CUHK_PEDES', 'cuhk_pedes', 'cuhkpedes')
    ANN_FILES = ('reid_raw.json', 'caption_all.json')
    PATH_KEY = 'file_path'
    ID_OFFSET = 1

    def _missing_split_hint(self, ann_path: str) -> str:
        return ('This looks like the original release file caption_all.json, which has no '
                'train/val/test split: use reid_raw.json (same entries plus "split", '
                'distributed with the CUHK-PEDES split, as IRRA/TIPCB read it) instead.')


@DATASETS.register_module()
class ICFGPEDES(TextPedesDataset):
    """ICFG-PEDES (Ding et al., 2021): 4,102 ids, 54,522 images, one caption each.

    Layout (``data_root`` may be ``ICFG-PEDES/`` itself or its parent)::

        ICFG-PEDES/
        ├── imgs/train/0000/0000_000_01_0303morning_0001_0.jpg ...
        ├── imgs/test/ ...
        ├── ICFG-PEDES.json   (or ICFG_PEDES.json, as IRRA's README names it) entries with
        │                     "split", "captions", "file_path" (under imgs/), "id"
        └── part_masks/       (synthetic data only) masks mirroring imgs/, .png

    pid = id. Splits: see :class:`TextPedesDataset` (train 3,102 ids / 34,674 images; test
    1,000 / 19,848).

    Args:
        data_root: see above.
        split: ``'train'`` | ``'query'`` | ``'gallery'``.
        test_split: ``'test'`` (ICFG-PEDES has no val split).
        verify_images: decode every image at scan time.
    """

    DATASET_NAME = 'ICFG-PEDES'
    ROOT_NAMES = ('ICFG-PEDES', 'ICFG_PEDES', 'icfg_pedes', 'icfgpedes')
    ANN_FILES = ('ICFG-PEDES.json', 'ICFG_PEDES.json')
    PATH_KEY = 'file_path'


@DATASETS.register_module()
class RSTPReid(TextPedesDataset):
    """RSTPReid (Zhu et al., ACM MM 2021): 4,101 ids, 20,505 images, two captions each.

    Layout (``data_root`` may be ``RSTPReid/`` itself or its parent)::

        RSTPReid/
        ├── imgs/3901_c14_0004.jpg ...
        ├── data_captions.json   [{"id": 3901, "img_path": "3901_c14_0004.jpg",
        │                          "captions": ["..", ".."], "split": "test"}, ...]
        └── part_masks/          (synthetic data only) masks mirroring imgs/, .png

    The image key is ``img_path`` (not ``file_path``); pid = id. Splits: see
    :class:`TextPedesDataset` (train 3,701 ids / 18,505 images; val 200 / 1,000; test 200 ids /
    1,000 images / 2,000 captions).

    Args:
        data_root: see above.
        split: ``'train'`` | ``'query'`` | ``'gallery'``.
        test_split: ``'test'`` or ``'val'``.
        verify_images: decode every image at scan time.
    """

    DATASET_NAME = 'RSTPReid'
    ROOT_NAMES = ('RSTPReid', 'rstpreid', 'RSTPReID', 'RSTP-Reid')
    ANN_FILES = ('data_captions.json',)
    PATH_KEY = 'img_path'
