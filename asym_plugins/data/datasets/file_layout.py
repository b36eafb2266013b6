"""Shared machinery of the on-disk dataset parsers: root variants, scanning, list/JSON reading.

Every parser of this package subclasses :class:`FileLayoutDataset`, which adds to
:class:`~asym_plugins.data.datasets.base.ReIDDataset`:

* root variants: ``data_root`` may be the dataset folder itself, its parent, or the parent of
  a torchreid-style nesting (``market1501/Market-1501-v15.09.15/``); each parser lists the
  folder names it accepts in ``ROOT_NAMES`` and :meth:`resolve_dataset_root` picks the first
  that holds the files the requested split needs;
* ``verify_images=True``: decode every image once at scan time (``cv2.imread``) and raise
  :class:`DatasetFormatError` naming the first file that does not decode;
* part masks: when the dataset folder holds a ``part_masks/`` tree (written by
  :func:`asym_plugins.data.synthetic.writer.write_layout`) that mirrors the image paths with a
  ``.png`` suffix (``<root>/query/0002_c1s1_000451_03.jpg`` ->
  ``<root>/part_masks/query/0002_c1s1_000451_03.png``), samples get ``part_mask_path``.
"""
import json
import os
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from mmengine.logging import print_log

from .base import DatasetFormatError, ReIDDataset

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')
PART_MASK_DIR = 'part_masks'


class FileLayoutDataset(ReIDDataset):
    """Base of the parsers that read a dataset from its released folder layout.

    Args:
        data_root: the dataset folder, its parent, or a parent with the usual nesting (see each
            parser's ``ROOT_NAMES``).
        split: ``'train'``, ``'query'`` or ``'gallery'``.
        verify_images: decode every image with ``cv2.imread`` while scanning and raise
            :class:`DatasetFormatError` naming the first one that fails (slow on real data;
            off by default: during training the loading transform handles broken files).
        **kwargs: passed to :class:`ReIDDataset`.
    """

    #: folder names (relative to ``data_root``, '/' for nesting) where the dataset may sit;
    #: ``''`` (``data_root`` itself) is always tried first.
    ROOT_NAMES: Tuple[str, ...] = ()
    #: human-readable dataset name used in messages.
    DATASET_NAME: str = ''

    def __init__(self, data_root: str = '', split: str = 'train', verify_images: bool = False,
                 **kwargs):
        self.verify_images = verify_images
        self.dataset_root: Optional[str] = None
        super().__init__(data_root=data_root, split=split, **kwargs)

    # -- root resolution -----------------------------------------------------------------
    @property
    def _name(self) -> str:
        return self.DATASET_NAME or type(self).__name__

    def resolve_dataset_root(self, required: Sequence[str]) -> str:
        """Find the dataset folder under ``data_root`` that holds every path of ``required``.

        Tries ``data_root`` itself, then ``data_root/<name>`` for each of ``ROOT_NAMES``. When
        none holds all of ``required``, :meth:`check_data_root` raises for the best candidate
        (the one holding most of them) and the message lists the accepted folder names.
        Sets and returns ``self.dataset_root``.
        """
        root = self.data_root
        if not root or not osp.isdir(root):
            self.check_data_root(*required)  # raises: data_root itself is missing
        best, best_hits = '', -1
        for cand in ('',) + tuple(self.ROOT_NAMES):
            base = osp.join(root, cand) if cand else root
            if not osp.isdir(base):
                continue
            hits = sum(osp.exists(osp.join(base, r)) for r in required)
            if hits == len(required):
                self.dataset_root = base
                return base
            if hits > best_hits:
                best, best_hits = cand, hits
        try:
            self.check_data_root(*[osp.join(best, r) if best else r for r in required])
        except FileNotFoundError as err:
            accepted = ', '.join(repr(c) for c in self.ROOT_NAMES) or 'none'
            raise FileNotFoundError(
                f'{err} {self._name} needs {list(required)} for split {self.split!r}; '
                f'data_root may be the dataset folder itself or a parent holding one of: '
                f'{accepted}.') from None
        raise AssertionError('unreachable')  # check_data_root raised or found everything

    # -- scanning helpers ----------------------------------------------------------------
    def list_images(self, folder: str, extensions: Iterable[str] = IMG_EXTENSIONS) -> List[str]:
        """Sorted image files directly in ``folder`` (other files such as Thumbs.db ignored)."""
        exts = tuple(e.lower() for e in extensions)
        return [osp.join(folder, f) for f in sorted(os.listdir(folder))
                if f.lower().endswith(exts) and osp.isfile(osp.join(folder, f))]

    def list_images_in_pid_folders(self, folder: str,
                                   extensions: Iterable[str] = IMG_EXTENSIONS) -> List[str]:
        """Sorted image files one level down: ``folder/<pid>/<file>``."""
        paths = []
        for sub in sorted(os.listdir(folder)):
            sub_path = osp.join(folder, sub)
            if osp.isdir(sub_path):
                paths.extend(self.list_images(sub_path, extensions))
        return paths

    def match_name(self, pattern: 're.Pattern', path: str, example: str) -> 're.Match':
        """``pattern.match`` on the file name of ``path``, or a :class:`DatasetFormatError`."""
        name = osp.basename(path)
        m = pattern.match(name)
        if m is None:
            raise DatasetFormatError(
                f'{self._name}: file name {name!r} ({path}) does not match the expected pattern '
                f'{pattern.pattern!r}, e.g. {example!r}. Remove the file or fix data_root.')
        return m

    def read_list_file(self, path: str, example: str,
                       with_label: bool = True) -> List[Tuple[str, Optional[int]]]:
        """Read ``<relative path> <int label>`` lines (blank lines skipped).

        Returns ``(relative path, label)`` pairs; ``label`` is None when ``with_label`` is
        False and the line has only a path.
        """
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{self._name}: list file {path!r} does not exist (lines like {example!r}).')
        out = []
        with open(path, 'r', encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                label = None
                ok = len(parts) == 2 or (not with_label and len(parts) == 1)
                if ok and len(parts) == 2:
                    try:
                        label = int(parts[1])
                    except ValueError:
                        ok = False
                if not ok:
                    raise DatasetFormatError(
                        f'{self._name}: {path}:{lineno}: cannot parse {line.strip()!r}; expected '
                        f'lines like {example!r} (relative image path, space, integer label).')
                out.append((parts[0], label))
        return out

    def load_json(self, path: str):
        """``json.load`` with an error naming the file and the position of a syntax error."""
        if not osp.isfile(path):
            raise FileNotFoundError(f'{self._name}: annotation file {path!r} does not exist.')
        with open(path, 'r', encoding='utf-8') as f:
            try:
                return json.load(f)
            except json.JSONDecodeError as err:
                raise DatasetFormatError(
                    f'{self._name}: malformed JSON in {path} at line {err.lineno}, column '
                    f'{err.colno} (char {err.pos}): {err.msg}.') from None

    def log_skipped(self, count: int, what: str) -> None:
        if count:
            print_log(f'{self._name}: ignored {count} {what} in the {self.split} split '
                      f'({self.dataset_root}).', logger='current')

    # -- post-processing -----------------------------------------------------------------
    def extra_metainfo(self, samples: List[Dict]) -> Dict:
        """Dataset-specific metainfo entries added after loading (override)."""
        return {}

    def load_data_list(self) -> List[dict]:
        samples = super().load_data_list()
        self._attach_part_masks(samples)
        if self.verify_images:
            self._verify_decodable(samples)
        self._metainfo.update(dataset_root=self.dataset_root, **self.extra_metainfo(samples))
        return samples

    def _attach_part_masks(self, samples: List[Dict]) -> None:
        if not self.dataset_root:
            return
        mask_root = osp.join(self.dataset_root, PART_MASK_DIR)
        if not osp.isdir(mask_root):
            return
        found = 0
        from ...progress import progress
        for s in progress(samples, desc=f'{self._name} {self.split}: part masks', unit='img'):
            rel = osp.relpath(s['img_path'], self.dataset_root)
            mask = osp.join(mask_root, osp.splitext(rel)[0] + '.png')
            if osp.isfile(mask):
                s['part_mask_path'] = mask
                found += 1
        if found < len(samples):
            print_log(f'{self._name}: {len(samples) - found} of {len(samples)} {self.split} '
                      f'images have no part mask under {mask_root}.', logger='current')

    def _verify_decodable(self, samples: List[Dict]) -> None:
        import cv2

        from ...progress import progress
        for s in progress(samples, desc=f'{self._name} {self.split}: decoding', unit='img'):
            path = s['img_path']
            if cv2.imread(path, cv2.IMREAD_UNCHANGED) is None:
                raise DatasetFormatError(
                    f'{self._name}: image {path!r} cannot be decoded (cv2.imread returned None): '
                    'the file is truncated, empty or not an image. Re-extract the dataset or '
                    'delete the file.')


class BoundingBoxFolderDataset(FileLayoutDataset):
    """Market-1501-style folders: ``{bounding_box_train, query, bounding_box_test}/*.jpg``.

    File names start with ``<pid>_c<cam>``; pid ``-1`` marks junk images, which are ignored
    (their count is logged); pid ``0`` (Market-1501 distractors) is kept. ``camid`` is stored
    0-based (``c1`` -> 0).
    """

    SPLIT_DIRS = {'train': 'bounding_box_train', 'query': 'query', 'gallery': 'bounding_box_test'}
    NAME_PATTERN = re.compile(r'^([-\d]+)_c(\d)')
    NAME_EXAMPLE = '0002_c1s1_000451_03.jpg'
    NUM_CAMS = 6

    def parse_split(self) -> List[Dict]:
        sub = self.SPLIT_DIRS[self.split]
        root = self.resolve_dataset_root([sub])
        samples, junk = [], 0
        for path in self.list_images(osp.join(root, sub), ('.jpg', '.jpeg', '.png')):
            m = self.match_name(self.NAME_PATTERN, path, self.NAME_EXAMPLE)
            try:
                pid = int(m.group(1))
            except ValueError:
                raise DatasetFormatError(
                    f'{self._name}: file name {osp.basename(path)!r} ({path}) has a non-integer '
                    f'pid; expected names like {self.NAME_EXAMPLE!r}.') from None
            cam = int(m.group(2))
            if pid == -1:
                junk += 1
                continue
            if pid < -1 or not 1 <= cam <= self.NUM_CAMS:
                raise DatasetFormatError(
                    f'{self._name}: file {path!r} has pid {pid} / camera c{cam}; expected pid >= '
                    f'-1 and cameras c1..c{self.NUM_CAMS} (names like {self.NAME_EXAMPLE!r}).')
            samples.append(dict(img_path=path, pid=pid, camid=cam - 1, modality='visible'))
        self.log_skipped(junk, 'junk images (pid -1)')
        return samples
