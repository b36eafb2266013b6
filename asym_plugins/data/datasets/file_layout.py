"""Shared machinery of the on-disk dataset parsers: root variants, scanning, list/JSON reading.

Every parser of this package subclasses :class:`FileLayoutDataset`, which adds to
:class:`~asym_plugins.data.datasets.base.ReIDDataset`:

* root variants: ``data_root`` may be the dataset folder itself, its parent, or the parent of
  a torchreid-style nesting (``market1501/Market-1501-v15.09.15/``); each parser lists the
  folder names it accepts in ``ROOT_NAMES`` and :meth:`resolve_dataset_root` picks the first
  that holds the files the requested split needs;
* ``verify_images`` (on by default for query/gallery): check every image once at scan time
  (header, then a full decode that refuses truncated files) and raise
  :class:`DatasetFormatError` naming the ones that fail; files that passed are cached by
  path, size and mtime (``$ASYM_CACHE_DIR`` or ``~/.cache/asym-reid``), so a restart only
  checks new or changed files;
* nothing dropped silently: a file that cannot be used (dangling or looping symlink, a folder
  named like an image) is logged with the reason, counted in ``metainfo['num_skipped']`` and in
  :func:`skipped_files_summary`; junk images (pid -1) are logged as a count;
* paths read from annotation lists / JSON are refused when they leave the dataset folder
  (``../``, absolute paths), naming the file and line (entry);
* part masks: when the dataset folder holds a ``part_masks/`` tree (written by
  :func:`asym_plugins.data.synthetic.writer.write_layout`) that mirrors the image paths with a
  ``.png`` suffix (``<root>/query/0002_c1s1_000451_03.jpg`` ->
  ``<root>/part_masks/query/0002_c1s1_000451_03.png``), samples get ``part_mask_path``.
"""
import collections
import errno
import json
import os
import os.path as osp
import re
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from mmengine.logging import print_log

from ...engine.cli import MissingInputError
from .base import DatasetFormatError, ReIDDataset

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')
PART_MASK_DIR = 'part_masks'

#: (dataset, split, reason) -> the files skipped in this process (a set, so that a dataset
#: built twice, e.g. once to count identities, is counted once): the run summary.
SKIPPED: Dict[Tuple[str, str, str], set] = collections.defaultdict(set)


def skipped_files_summary() -> str:
    """One line per (dataset, split, reason) with the number of files skipped in this process
    ('' when none); ``tools/train.py`` and ``tools/test.py`` log it at the end of a run."""
    return '\n'.join(f'  {name} {split}: {len(paths)} skipped ({reason})'
                     for (name, split, reason), paths in sorted(SKIPPED.items()))


def unusable_reason(path: str) -> Optional[str]:
    """Why ``path`` (listed in a folder) is not a readable file, or None when it is one."""
    if osp.isfile(path):
        return None
    if osp.islink(path):
        try:
            os.stat(path)
        except OSError as err:
            if err.errno == errno.ELOOP:
                return f'symlink loop ({path} -> {os.readlink(path)})'
            return f'dangling symlink ({path} -> {os.readlink(path)} does not exist)'
    if osp.isdir(path):
        return 'a folder, not a file'
    return 'not a regular file'


def _cache_file() -> str:
    root = os.environ.get('ASYM_CACHE_DIR') or osp.join(osp.expanduser('~'), '.cache',
                                                        'asym-reid')
    return osp.join(root, 'verified_images.json')


def check_image(path: str) -> Optional[str]:
    """None when ``path`` is a complete image, else why not: PIL reads the header
    (``verify``), then decodes every pixel with truncated files refused (libjpeg would fill
    the missing part with grey and only warn)."""
    try:
        from PIL import Image, ImageFile
    except ImportError:  # pragma: no cover - Pillow comes with torchvision / mmcv
        import cv2
        return None if cv2.imread(path, cv2.IMREAD_UNCHANGED) is not None else \
            'cv2.imread returned None'
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.load()
    except Exception as err:  # noqa: BLE001 - any failure means "not a usable image"
        return f'{type(err).__name__}: {err}'
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old
    return None


class FileLayoutDataset(ReIDDataset):
    """Base of the parsers that read a dataset from its released folder layout.

    Args:
        data_root: the dataset folder, its parent, or a parent with the usual nesting (see each
            parser's ``ROOT_NAMES``).
        split: ``'train'``, ``'query'`` or ``'gallery'``.
        verify_images: check every image while scanning (header + full decode, truncated
            files refused; cached by size+mtime) and raise :class:`DatasetFormatError` naming
            the ones that fail. None (default): on for 'query'/'gallery' (a broken test image
            would otherwise stop the first validation, epochs later), off for 'train' (the
            loading transform skips broken files with a logged count).
        **kwargs: passed to :class:`ReIDDataset`.
    """

    #: folder names (relative to ``data_root``, '/' for nesting) where the dataset may sit;
    #: ``''`` (``data_root`` itself) is always tried first.
    ROOT_NAMES: Tuple[str, ...] = ()
    #: human-readable dataset name used in messages.
    DATASET_NAME: str = ''

    def __init__(self, data_root: str = '', split: str = 'train',
                 verify_images: Optional[bool] = None, **kwargs):
        self.verify_images = (split != 'train') if verify_images is None else verify_images
        self.dataset_root: Optional[str] = None
        self.skipped: List[Tuple[str, str]] = []
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
            raise MissingInputError(
                f'{err} {self._name} needs {list(required)} for split {self.split!r}; '
                f'data_root may be the dataset folder itself or a parent holding one of: '
                f'{accepted}.') from None
        raise AssertionError('unreachable')  # check_data_root raised or found everything

    # -- scanning helpers ----------------------------------------------------------------
    def skip_file(self, path: str, reason: str) -> None:
        """Record and log a file of the dataset that is not used, with the reason."""
        self.skipped.append((path, reason))
        SKIPPED[(self._name, self.split, reason.split(' (')[0])].add(osp.abspath(path))
        print_log(f'{self._name} {self.split}: skipped {path}: {reason}.', logger='current',
                  level=30)

    def list_images(self, folder: str, extensions: Iterable[str] = IMG_EXTENSIONS) -> List[str]:
        """Sorted image files directly in ``folder`` (other files such as Thumbs.db ignored;
        an image name that is no readable file, e.g. a dangling symlink, is skipped and logged
        with :meth:`skip_file`)."""
        exts = tuple(e.lower() for e in extensions)
        out = []
        for f in sorted(os.listdir(folder)):
            if not f.lower().endswith(exts):
                continue
            path = osp.join(folder, f)
            reason = unusable_reason(path)
            if reason is None:
                out.append(path)
            else:
                self.skip_file(path, reason)
        return out

    def list_images_in_pid_folders(self, folder: str,
                                   extensions: Iterable[str] = IMG_EXTENSIONS) -> List[str]:
        """Sorted image files one level down: ``folder/<pid>/<file>`` (a dangling or looping
        symlink in place of a pid folder is skipped and logged)."""
        paths = []
        for sub in sorted(os.listdir(folder)):
            sub_path = osp.join(folder, sub)
            if osp.isdir(sub_path):
                paths.extend(self.list_images(sub_path, extensions))
            elif osp.islink(sub_path):
                self.skip_file(sub_path, unusable_reason(sub_path) or 'not a folder')
        return paths

    def resolve_listed(self, base: str, rel: str, where: str) -> str:
        """``base/rel`` for a path read from an annotation file (``where``: ``file:line`` or
        ``file entry i``); refused when it is absolute or leaves the dataset folder (the check
        is on the path as written, so symlinks inside the dataset are fine)."""
        root = osp.normpath(osp.abspath(self.dataset_root or base))
        path = osp.normpath(osp.join(osp.abspath(base), rel))
        if osp.isabs(rel) or not path.startswith(root + os.sep):
            raise DatasetFormatError(
                f'{self._name}: {where}: path {rel!r} leaves the dataset folder {root} '
                '(annotation paths must be relative and stay inside it: no absolute paths or '
                "'..'). Fix the line, or restore the file from the release.")
        return osp.join(base, osp.relpath(path, osp.abspath(base)))

    def read_list_entries(self, path: str, example: str, base: str,
                          with_label: bool = True) -> List[Tuple[str, Optional[int], str]]:
        """:meth:`read_list_file` with every path resolved under ``base`` by
        :meth:`resolve_listed`: ``(path, label, 'file:line')`` triples."""
        out = []
        lines = self._list_lines(path)
        for (rel, label), lineno in zip(self.read_list_file(path, example, with_label), lines):
            where = f'{path}:{lineno}'
            out.append((self.resolve_listed(base, rel, where), label, where))
        return out

    @staticmethod
    def _list_lines(path: str) -> List[int]:
        with open(path, 'r', encoding='utf-8') as f:
            return [i for i, line in enumerate(f, 1) if line.split()]

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
            raise MissingInputError(
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
                    # a non-negative integer: '-1', '+3' or '3.0' are refused, not guessed at
                    ok = parts[1].isascii() and parts[1].isdigit()
                    label = int(parts[1]) if ok else None
                if not ok:
                    raise DatasetFormatError(
                        f'{self._name}: {path}:{lineno}: cannot parse {line.strip()!r}; expected '
                        f'lines like {example!r} (relative image path, space, non-negative '
                        'integer label).')
                out.append((parts[0], label))
        return out

    def load_json(self, path: str):
        """``json.load`` with an error naming the file and the position of a syntax error."""
        if not osp.isfile(path):
            raise MissingInputError(f'{self._name}: annotation file {path!r} does not exist.')
        with open(path, 'r', encoding='utf-8') as f:
            try:
                return json.load(f)
            except json.JSONDecodeError as err:
                raise DatasetFormatError(
                    f'{self._name}: malformed JSON in {path} at line {err.lineno}, column '
                    f'{err.colno} (char {err.pos}): {err.msg}.') from None

    def log_skipped(self, count: int, what: str) -> None:
        if count:
            SKIPPED[(self._name, self.split, what)].update(
                f'{osp.abspath(self.dataset_root or "")}#{i}' for i in range(count))
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
        self._metainfo.update(dataset_root=self.dataset_root, num_skipped=len(self.skipped),
                              **self.extra_metainfo(samples))
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
        from ...progress import progress
        cache_path = _cache_file()
        try:
            with open(cache_path, 'r', encoding='utf-8') as f:
                cache = json.load(f)
        except (OSError, ValueError):
            cache = {}
        todo = []
        for s in samples:
            path = osp.abspath(s['img_path'])
            try:
                st = os.stat(path)
            except OSError as err:
                raise DatasetFormatError(f'{self._name}: image {path!r} cannot be read: '
                                         f'{err.strerror}.') from None
            key = [st.st_size, st.st_mtime_ns]
            if cache.get(path) != key:
                todo.append((path, key))
        bad = []
        for path, key in progress(todo, desc=f'{self._name} {self.split}: checking images',
                                  unit='img'):
            problem = check_image(path)
            if problem is None:
                cache[path] = key
            else:
                bad.append(f'{path!r} cannot be decoded ({problem})')
        if todo:
            try:
                os.makedirs(osp.dirname(cache_path), exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=osp.dirname(cache_path), suffix='.tmp')
                with os.fdopen(fd, 'w', encoding='utf-8') as f:
                    json.dump(cache, f)
                os.replace(tmp, cache_path)
            except OSError as err:  # a read-only home: checks simply repeat next time
                print_log(f'could not write the image-check cache {cache_path}: {err}',
                          logger='current', level=30)
        if bad:
            raise DatasetFormatError(
                f'{self._name}: {len(bad)} {self.split} image(s) are truncated, empty or not '
                'images: ' + '; '.join(bad[:20]) + (f' ... and {len(bad) - 20} more'
                                                    if len(bad) > 20 else '')
                + '. Re-extract the dataset or delete the files (verify_images=False skips '
                'this check).')


class BoundingBoxFolderDataset(FileLayoutDataset):
    """Market-1501-style folders: ``{bounding_box_train, query, bounding_box_test}/*.jpg``.

    File names start with ``<pid>_c<cam>``; pid ``-1`` marks junk images, which are ignored
    (their count is logged); pid ``0`` (Market-1501 distractors) is kept. ``camid`` is stored
    0-based (``c1`` -> 0).
    """

    SPLIT_DIRS = {'train': 'bounding_box_train', 'query': 'query', 'gallery': 'bounding_box_test'}
    # pid: -1 (junk) or digits; camera: every digit, so 'c10' is refused, not read as c1
    NAME_PATTERN = re.compile(r'^(-1|\d+)_c(\d+)')
    NAME_EXAMPLE = '0002_c1s1_000451_03.jpg'
    NUM_CAMS = 6

    def parse_split(self) -> List[Dict]:
        sub = self.SPLIT_DIRS[self.split]
        root = self.resolve_dataset_root([sub])
        samples, junk = [], 0
        # every image extension: a .bmp copy is parsed (or refused), never skipped unseen
        for path in self.list_images(osp.join(root, sub)):
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
