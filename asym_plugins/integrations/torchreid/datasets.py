"""torchreid image datasets over this package's parsers and the synthetic world.

Each class is a subclass of torchreid's ``ImageDataset`` built from one of our MMEngine parsers
(``asym_plugins.data.datasets``): the parser reads the released layout (all its root variants,
junk handling, part masks, captions), and the result is handed to torchreid as
``(img_path, pid, camid)`` tuples (training pids relabelled ``0..N-1`` as torchreid expects;
camids 0-based). torchreid's ``ImageDataManager`` then builds them by name after
:func:`~asym_plugins.integrations.torchreid.register_all`.

What torchreid's tuples cannot carry is kept per image path and added to every item:

* ``modality``: 0 visible, 1 infrared (cross-modality engines);
* ``caption``: one caption of the image (random in training, the first one otherwise; caption
  datasets and the synthetic ``text`` preset); all captions are in ``dataset.extras``;
* ``part_mask`` (LongTensor H x W, part-label ids) when ``dataset.return_part_mask`` is True
  (set by :class:`~.engines.SAPEngine`): the mask goes through the same geometric transforms
  as the image (:class:`JointTransform`).

Test-only datasets (Occluded-REID, Partial-REID, Partial-iLIDS) raise on ``mode='train'``
and can only be ``targets``. The synthetic datasets render the embedded world once into
``<root>/asym_synthetic/<preset>-<settings hash>/`` (PNG images + part masks + ``records.json``)
and reuse it afterwards, so they behave like any on-disk dataset (several sources, visrank...).

Registered names (:data:`DATASET_SPECS`): ``asym_market1501``, ``asym_dukemtmc``, ``asym_msmt17``
(torchreid has its own ``market1501``...), ``occluded_duke``, ``occluded_reid``,
``partial_reid``, ``partial_ilids``, ``p_dukemtmc``, ``p_ethz``, ``sysu_mm01``, ``regdb``,
``cuhk_pedes``, ``icfg_pedes``, ``rstpreid``, ``synthetic_holistic``, ``synthetic_occluded``,
``synthetic_partial``, ``synthetic_infrared``, ``synthetic_text``.

Examples::
    >>> from asym_plugins.integrations.torchreid import register_all
    >>> register_all()
    >>> import torchreid
    >>> dm = torchreid.reid.data.ImageDataManager(root='data', sources='occluded_duke',
    ...                                           height=256, width=128)
"""
import hashlib
import importlib
import json
import os
import os.path as osp
import random
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from PIL import Image

from asym_plugins.data.synthetic import WORLD_VERSION, SyntheticWorld

from . import compat

__all__ = ['DATASET_SPECS', 'SYNTHETIC_DEFAULTS', 'MODALITY_IDS', 'JointTransform',
           'open_rgb_image', 'dataset_class', 'synthetic_dataset_class',
           'configured_dataset_class', 'AsymImageDatasetMixin']

MODALITY_IDS = {'visible': 0, 'infrared': 1}

#: torchreid name -> parser ('module:Class'), parser kwargs, test-only flag.
DATASET_SPECS: Dict[str, dict] = {
    'asym_market1501': dict(parser='asym_plugins.data.datasets:Market1501'),
    'asym_dukemtmc': dict(parser='asym_plugins.data.datasets:DukeMTMCReID'),
    'asym_msmt17': dict(parser='asym_plugins.data.datasets:MSMT17'),
    'occluded_duke': dict(parser='asym_plugins.data.datasets:OccludedDuke'),
    'occluded_reid': dict(parser='asym_plugins.data.datasets:OccludedREID', test_only=True),
    'partial_reid': dict(parser='asym_plugins.data.datasets:PartialREID', test_only=True),
    'partial_ilids': dict(parser='asym_plugins.data.datasets:PartialILIDS', test_only=True),
    'p_dukemtmc': dict(parser='asym_plugins.data.datasets:PDukeMTMCReID'),
    'p_ethz': dict(parser='asym_plugins.data.datasets:PETHZ', kwargs=dict(id_split=True)),
    'sysu_mm01': dict(parser='asym_plugins.data.datasets:SYSUMM01'),
    'regdb': dict(parser='asym_plugins.data.datasets:RegDB'),
    'cuhk_pedes': dict(parser='asym_plugins.data.datasets:CUHKPEDES'),
    'icfg_pedes': dict(parser='asym_plugins.data.datasets:ICFGPEDES'),
    'rstpreid': dict(parser='asym_plugins.data.datasets:RSTPReid'),
    'synthetic_holistic': dict(synthetic='holistic'),
    'synthetic_occluded': dict(synthetic='occluded'),
    'synthetic_partial': dict(synthetic='partial'),
    'synthetic_infrared': dict(synthetic='infrared'),
    'synthetic_text': dict(synthetic='text'),
}

#: World settings of the registered synthetic datasets (the presets' own sizes otherwise).
SYNTHETIC_DEFAULTS = dict(seed=0, num_train_ids=None, num_test_ids=None, img_size=(128, 64))


# ---------------------------------------------------------------------------- transforms
class JointTransform:
    """Apply torchreid's training transform to an image and its part mask together.

    Walks a torchvision ``Compose``: geometric steps (``Resize``, ``RandomHorizontalFlip``,
    torchreid's ``Random2DTranslation``) move the mask with the image (nearest-neighbour for
    the mask, one random draw for both); every other step (colour jitter, ``ToTensor``,
    ``Normalize``, random erasing / patch) acts on the image only.

    Returns ``(image tensor, mask LongTensor (H, W))``.
    """

    def __init__(self, transform: Callable) -> None:
        steps = getattr(transform, 'transforms', None)
        self.steps = list(steps) if steps is not None else [transform]

    @staticmethod
    def _size_hw(size, img: Image.Image) -> Tuple[int, int]:
        if isinstance(size, int):  # shorter side -> size, aspect kept (torchvision semantics)
            w, h = img.size
            if h <= w:
                return size, int(round(size * w / h))
            return int(round(size * h / w)), size
        return int(size[0]), int(size[1])

    def __call__(self, img: Image.Image, mask: Image.Image):
        for t in self.steps:
            name = type(t).__name__
            if name == 'Resize':
                img = t(img)
                h, w = img.size[1], img.size[0]
                mask = mask.resize((w, h), Image.NEAREST)
            elif name == 'RandomHorizontalFlip':
                if torch.rand(1).item() < getattr(t, 'p', 0.5):
                    img = img.transpose(Image.FLIP_LEFT_RIGHT)
                    mask = mask.transpose(Image.FLIP_LEFT_RIGHT)
            elif name == 'Random2DTranslation':
                img, mask = self._translate(t, img, mask)
            else:
                img = t(img)
        return img, torch.from_numpy(np.array(mask, dtype=np.int64))

    @staticmethod
    def _translate(t, img: Image.Image, mask: Image.Image):
        """torchreid's enlarge-by-1.125-then-random-crop (probability ``t.p``), jointly."""
        interp = getattr(t, 'interpolation', Image.BILINEAR)
        if random.uniform(0, 1) > t.p:
            return (img.resize((t.width, t.height), interp),
                    mask.resize((t.width, t.height), Image.NEAREST))
        big_w, big_h = int(round(t.width * 1.125)), int(round(t.height * 1.125))
        img = img.resize((big_w, big_h), interp)
        mask = mask.resize((big_w, big_h), Image.NEAREST)
        x0 = int(round(random.uniform(0, big_w - t.width)))
        y0 = int(round(random.uniform(0, big_h - t.height)))
        box = (x0, y0, x0 + t.width, y0 + t.height)
        return img.crop(box), mask.crop(box)


def open_rgb_image(path: str) -> Image.Image:
    """The image at ``path`` as an RGB PIL image (raises IOError naming the file)."""
    try:
        with Image.open(path) as im:
            return im.convert('RGB')
    except (OSError, ValueError) as e:
        raise IOError(f'Cannot read image {path!r} ({e}).') from e


# ---------------------------------------------------------------------------- datasets
def _import(spec: str):
    module, _, attr = spec.partition(':')
    return getattr(importlib.import_module(module), attr)


def _parse(parser_cls, root: str, split: str, **kwargs) -> List[Dict]:
    ds = parser_cls(data_root=root, split=split, serialize_data=False, **kwargs)
    return [dict(s) for s in ds.data_list]


class AsymImageDatasetMixin:
    """The logic of our torchreid datasets; combined with torchreid's ``ImageDataset`` (of the
    installed layout) by :func:`dataset_class`.

    Subclasses implement :meth:`load_splits` -> ``(train, query, gallery)`` lists of sample
    dicts (``img_path``, ``pid`` (train: the relabelled ``label``), ``camid``, ``modality``,
    optional ``captions``, ``part_mask_path``).
    """

    test_only = False
    #: set True (e.g. by SAPEngine) to add ``part_mask`` to every item.
    return_part_mask = False
    #: optional ``fn(info) -> uint8 mask`` replacing ``part_mask_path`` (source teachers).
    part_mask_fn: Optional[Callable[[dict], np.ndarray]] = None

    def __init__(self, root: str = '', **kwargs) -> None:
        self.root = osp.abspath(osp.expanduser(root)) if root else ''
        mode = kwargs.get('mode', 'train')
        if self.test_only and (mode == 'train' or kwargs.get('combineall')):
            raise ValueError(f'{type(self).__name__} is a test-only dataset (no train split); '
                             f'use it in targets only (ImageDataManager(targets=...)).')
        train, query, gallery = self.load_splits(self.root, mode)
        self.extras: Dict[str, Dict[str, Any]] = {}
        tuples = []
        for part in (train, query, gallery):
            rows = []
            for s in part:
                rows.append((s['img_path'], int(s['pid']), int(s['camid'])))
                extra = self.extras.setdefault(s['img_path'], {})
                extra['modality'] = MODALITY_IDS[s.get('modality', 'visible')]
                if s.get('captions'):
                    extra['captions'] = list(s['captions'])
                if s.get('part_mask_path'):
                    extra['part_mask_path'] = s['part_mask_path']
            tuples.append(rows)
        train_t, query_t, gallery_t = tuples
        if not query_t or not gallery_t:
            raise ValueError(f'{type(self).__name__}: empty query or gallery under {root!r}.')
        if not train_t:
            train_t = list(query_t)  # placeholder of a test-only dataset (mode 'train' refused)
        kwargs.pop('root', None)
        super().__init__(train_t, query_t, gallery_t, **kwargs)

    def load_splits(self, root: str, mode: str) -> Tuple[List[Dict], List[Dict], List[Dict]]:
        raise NotImplementedError

    def show_summary(self):
        if self.test_only:
            print(f'=> Loaded {type(self).__name__} (test-only): query {len(self.query)}, '
                  f'gallery {len(self.gallery)} images')
        else:
            print(f'=> Loaded {type(self).__name__}')
            print(self.__repr__())

    # -- items -------------------------------------------------------------------------
    def _mask(self, img_path: str, img: Image.Image) -> Image.Image:
        extra = self.extras.get(img_path, {})
        if self.part_mask_fn is not None:
            arr = np.asarray(self.part_mask_fn(dict(img_path=img_path, img=np.asarray(img),
                                                    ori_shape=img.size[::-1])))
        elif extra.get('part_mask_path'):
            with Image.open(extra['part_mask_path']) as m:
                arr = np.asarray(m)
            if arr.ndim == 3:
                arr = arr[..., 0]
        else:
            raise ValueError(f'{type(self).__name__}: {img_path!r} has no part mask (no '
                             f'part_masks/ tree under the dataset root); give the engine a '
                             f'teacher that labels images (e.g. RuleTeacher) instead.')
        mask = Image.fromarray(arr.astype(np.uint8))
        if mask.size != img.size:
            mask = mask.resize(img.size, Image.NEAREST)
        return mask

    def __getitem__(self, index: int) -> Dict[str, Any]:
        img_path, pid, camid, dsetid = self.data[index]
        img = open_rgb_image(img_path)
        item: Dict[str, Any] = {'pid': pid, 'camid': camid, 'impath': img_path,
                                'dsetid': dsetid}
        extra = self.extras.get(img_path, {})
        if self.return_part_mask:
            mask = self._mask(img_path, img)
            if self.transform is not None:
                img, mask = JointTransform(self.transform)(img, mask)
            else:
                mask = torch.from_numpy(np.array(mask, dtype=np.int64))
            item['part_mask'] = mask
        elif self.transform is not None:
            img = self._transform_image(self.transform, self.k_tfm, img)
        item['img'] = img
        item['modality'] = extra.get('modality', 0)
        captions = extra.get('captions')
        if captions:
            item['caption'] = random.choice(captions) if self.mode == 'train' else captions[0]
        return item


class ParsedDatasetMixin(AsymImageDatasetMixin):
    """A dataset read by one of our parsers (``parser_cls`` with ``parser_kwargs``)."""

    parser_cls: type = None
    parser_kwargs: Dict[str, Any] = {}

    def load_splits(self, root, mode):
        if not root:
            raise ValueError(f'{type(self).__name__}: root is empty; pass '
                             f'ImageDataManager(root=<folder holding the dataset>).')
        kw = dict(self.parser_kwargs)
        train = [] if self.test_only else _parse(self.parser_cls, root, 'train', **kw)
        for s in train:
            s['pid'] = s['label']
        query = _parse(self.parser_cls, root, 'query', **kw)
        gallery = _parse(self.parser_cls, root, 'gallery', **kw)
        return train, query, gallery


class SyntheticDatasetMixin(AsymImageDatasetMixin):
    """A split of the synthetic world, rendered once to ``<root>/asym_synthetic/``."""

    preset: str = 'holistic'
    world_settings: Dict[str, Any] = dict(SYNTHETIC_DEFAULTS)

    @classmethod
    def cache_dir(cls, root: str) -> str:
        settings = {k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in cls.world_settings.items()}
        settings.update(preset=cls.preset, world_version=WORLD_VERSION)
        key = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode())
        return osp.join(root, 'asym_synthetic', f'{cls.preset}-{key.hexdigest()[:10]}')

    @classmethod
    def render(cls, root: str) -> str:
        """Render the world into its cache folder (once); returns the folder."""
        folder = cls.cache_dir(root)
        index = osp.join(folder, 'records.json')
        if osp.isfile(index):
            return folder
        settings = dict(cls.world_settings)
        seed = settings.pop('seed', 0)
        img_size = tuple(settings.pop('img_size', (128, 64)))
        world_cfg = settings.pop('world_cfg', None) or {}
        world = SyntheticWorld(preset=cls.preset, seed=seed, img_size=img_size,
                               **{k: v for k, v in settings.items() if v is not None},
                               **world_cfg)
        out = {}
        for split in ('train', 'query', 'gallery'):
            rows = []
            for rec in world.records(split):
                name = f"{rec['pid']:04d}_c{rec['camid'] + 1}_{rec['index']:05d}.png"
                rendered = world.render(rec)
                img_path = osp.join(folder, split, name)
                mask_path = osp.join(folder, 'part_masks', split, name)
                for path, arr in ((img_path, rendered['img']), (mask_path, rendered['mask'])):
                    os.makedirs(osp.dirname(path), exist_ok=True)
                    Image.fromarray(np.ascontiguousarray(arr)).save(path)
                row = dict(img_path=img_path, part_mask_path=mask_path, pid=int(rec['pid']),
                           camid=int(rec['camid']), modality=rec.get('modality', 'visible'))
                if rec.get('captions'):
                    row['captions'] = list(rec['captions'])
                rows.append(row)
            out[split] = rows
        tmp = index + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(dict(preset=cls.preset, settings=cls.world_settings, splits=out), f,
                      default=str)
        os.replace(tmp, index)  # the index appears only once every image is written
        return folder

    def load_splits(self, root, mode):
        if not root:
            raise ValueError(f'{type(self).__name__}: root is empty; pass '
                             f'ImageDataManager(root=<cache folder>) (the world is rendered '
                             f'there once).')
        folder = self.render(root)
        with open(osp.join(folder, 'records.json'), encoding='utf-8') as f:
            splits = json.load(f)['splits']
        train = [dict(s) for s in splits['train']]
        labels = {p: i for i, p in enumerate(sorted({s['pid'] for s in train}))}
        for s in train:
            s['pid'] = labels[s['pid']]
        query = [dict(s) for s in splits['query']]
        if self.preset == 'text':
            # text -> image: the captioned test images are the gallery, their captions the
            # queries (as the MMEngine text configs and TextImageMetric do).
            gallery = [{k: v for k, v in s.items() if k != 'captions'} for s in query]
        else:
            gallery = [dict(s) for s in splits['gallery']]
        return train, query, gallery


_CLASS_CACHE: Dict[Tuple, type] = {}


def _class_name(name: str) -> str:
    return 'Torchreid' + ''.join(p.capitalize() for p in name.split('_'))


def dataset_class(name: str) -> type:
    """The torchreid dataset class registered as ``name`` (built on the installed layout's
    ``ImageDataset``; one class per name and layout)."""
    if name not in DATASET_SPECS:
        raise KeyError(f'unknown asym_plugins dataset {name!r}; known: {sorted(DATASET_SPECS)}')
    spec = DATASET_SPECS[name]
    if 'synthetic' in spec:
        return synthetic_dataset_class(spec['synthetic'], name=name)
    return configured_dataset_class(name)


def configured_dataset_class(name: str, **parser_kwargs) -> type:
    """A parser-backed dataset class with extra parser arguments (e.g. ``regdb`` with
    ``trial=3``, ``sysu_mm01`` with ``search_mode='indoor'``)."""
    spec = DATASET_SPECS[name]
    if 'parser' not in spec:
        raise KeyError(f'{name!r} is not a parser-backed dataset.')
    base = compat.image_dataset_base()
    kwargs = dict(spec.get('kwargs', {}), **parser_kwargs)
    key = ('parsed', name, json.dumps(kwargs, sort_keys=True, default=str), base)
    if key not in _CLASS_CACHE:
        parser = _import(spec['parser'])
        _CLASS_CACHE[key] = type(_class_name(name), (ParsedDatasetMixin, base), dict(
            __doc__=f'torchreid dataset over asym_plugins {parser.__name__} '
                    f'(parser kwargs {kwargs}).\n\n' + (parser.__doc__ or ''),
            parser_cls=parser, parser_kwargs=kwargs, test_only=spec.get('test_only', False),
            __module__=__name__))
    return _CLASS_CACHE[key]


def synthetic_dataset_class(preset: str, name: Optional[str] = None, **world_settings) -> type:
    """A synthetic-world dataset class: ``preset`` plus :class:`SyntheticWorld` settings
    (``seed``, ``num_train_ids``, ``num_test_ids``, ``img_size`` (H, W), ``world_cfg``)."""
    base = compat.image_dataset_base()
    settings = dict(SYNTHETIC_DEFAULTS, **world_settings)
    if settings.get('img_size') is not None:
        settings['img_size'] = tuple(int(v) for v in settings['img_size'])
    key = ('synthetic', preset, json.dumps(settings, sort_keys=True, default=str), base)
    if key not in _CLASS_CACHE:
        _CLASS_CACHE[key] = type(_class_name(name or f'synthetic_{preset}'),
                                 (SyntheticDatasetMixin, base), dict(
            __doc__=f'The synthetic world, preset {preset!r}, settings {settings}, rendered '
                    f'once to <root>/asym_synthetic/.',
            preset=preset, world_settings=settings, __module__=__name__))
    return _CLASS_CACHE[key]


def __getattr__(name: str):
    # Deprecated (one release): read_rgb (a PIL image) is open_rgb_image here; the package's
    # read_rgb (asym_plugins.visualization) returns an array.
    if name == 'read_rgb':
        import warnings
        warnings.warn(f'{__name__}.read_rgb is deprecated; use open_rgb_image.',
                      DeprecationWarning, stacklevel=2)
        return open_rgb_image
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
