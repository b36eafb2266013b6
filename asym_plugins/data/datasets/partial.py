"""Partial-REID, Partial-iLIDS, P-DukeMTMC-reID and P-ETHZ parsers."""
import os.path as osp
import re
from typing import Dict, List, Optional

import numpy as np

from asym_plugins.registry import DATASETS

from .base import DatasetFormatError
from .file_layout import FileLayoutDataset
from .occluded import BodyImagesDataset


@DATASETS.register_module()
class PartialREID(FileLayoutDataset):
    """Partial-REID (Zheng et al., ICCV 2015): 60 identities x (5 partial + 5 whole-body).

    Layout (``data_root`` may be the dataset folder or its parent; the folder is named
    ``Partial-REID_Dataset/`` or ``Partial_REID/``)::

        Partial-REID_Dataset/
        ├── partial_body_images/001_001.jpg ...   split 'query'   (camid 0)
        ├── whole_body_images/001_001.jpg ...     split 'gallery' (camid 1)
        ├── occluded_body_images/ ...             (some releases; not used)
        └── part_masks/   (synthetic data only) the same tree with .png masks

    Names ``<pid:03d>_<index:03d>.jpg``; pid = the prefix; ``modality='visible'``. By default
    query camid 0 and gallery camid 1 (bpbreid / PVPM / light-reid), so nothing is excluded.
    ``camid_from_index=True`` reproduces AGW / fast-reid, which read the image index as the camera
    (stored 0-based: index ``001`` -> camid 0); that removes the gallery image sharing the
    query's index, i.e. one true match per query. Test-only; report R1 and R3.

    Args:
        data_root: see above.
        split: ``'query'`` | ``'gallery'``.
        camid_from_index: camid = image index - 1 instead of 0 (query) / 1 (gallery).
        verify_images: decode every image at scan time.
    """

    DATASET_NAME = 'Partial-REID'
    ROOT_NAMES = ('Partial-REID_Dataset', 'Partial_REID', 'Partial-REID', 'PartialREID',
                  'partial_reid')
    NAME_PATTERN = re.compile(r'^(\d+)_(\d+)\.')
    NAME_EXAMPLE = '001_001.jpg'

    def __init__(self, data_root: str = '', split: str = 'query', camid_from_index: bool = False,
                 **kwargs):
        self.camid_from_index = camid_from_index
        super().__init__(data_root=data_root, split=split, **kwargs)

    def parse_split(self) -> List[Dict]:
        if self.split == 'train':
            raise ValueError('Partial-REID is test-only (no train split); train on Market-1501.')
        sub = 'partial_body_images' if self.split == 'query' else 'whole_body_images'
        root = self.resolve_dataset_root([sub])
        samples = []
        for path in self.list_images(osp.join(root, sub)):
            m = self.match_name(self.NAME_PATTERN, path, self.NAME_EXAMPLE)
            index = int(m.group(2))
            if self.camid_from_index:
                if index < 1:
                    raise DatasetFormatError(
                        f'Partial-REID: {path} has image index {index}; camid_from_index=True '
                        f'expects 1-based indices as in {self.NAME_EXAMPLE!r}.')
                camid = index - 1
            else:
                camid = 0 if self.split == 'query' else 1
            samples.append(dict(img_path=path, pid=int(m.group(1)), camid=camid,
                                modality='visible'))
        return samples


@DATASETS.register_module()
class PartialILIDS(FileLayoutDataset):
    """Partial-iLIDS (Zheng et al., ICCV 2015): 119 identities, one probe + one gallery image each.

    Three released layouts are accepted (``data_root`` may be the folder or its parent)::

        Partial_iLIDS/                      layout='folders' (original)
        ├── Probe/001.jpg ...               split 'query'   (camid 0)
        └── Gallery/001.jpg ...             split 'gallery' (camid 1)

        Partial_iLIDS/                      layout='bpbreid'
        ├── partial_body_images/001.jpg     split 'query'
        └── whole_body_images/001.jpg       split 'gallery'

        Partial_iLIDS/                      layout='lists' (light-reid)
        ├── Probe.txt     one image per line: '<path relative to the root>[ <pid>]'
        ├── Gallery.txt
        └── <the folders the lists point to>

    pid = the file stem (or the list's label when a line has one); ``modality='visible'``.
    ``layout=None`` detects: lists if both list files exist, else ``Probe``/``Gallery``, else
    the bpbreid folders. A ``part_masks/`` tree mirrors the images in synthetic data. Test-only.

    Args:
        data_root: see above.
        split: ``'query'`` | ``'gallery'``.
        layout: ``'folders'`` | ``'bpbreid'`` | ``'lists'`` | None (detect).
        verify_images: decode every image at scan time.
    """

    DATASET_NAME = 'Partial-iLIDS'
    ROOT_NAMES = ('Partial_iLIDS', 'Partial-iLIDS', 'PartialiLIDS', 'partial_ilids',
                  'Partial_iLIDS_Dataset')
    LAYOUTS = {'lists': ('Probe.txt', 'Gallery.txt'), 'folders': ('Probe', 'Gallery'),
               'bpbreid': ('partial_body_images', 'whole_body_images')}
    NAME_PATTERN = re.compile(r'^(\d+)\.')
    NAME_EXAMPLE = '001.jpg'

    def __init__(self, data_root: str = '', split: str = 'query', layout: Optional[str] = None,
                 **kwargs):
        if layout is not None and layout not in self.LAYOUTS:
            raise ValueError(f'PartialILIDS: layout={layout!r}; expected one of '
                             f'{list(self.LAYOUTS)} or None.')
        self.layout = layout
        super().__init__(data_root=data_root, split=split, **kwargs)

    def parse_split(self) -> List[Dict]:
        if self.split == 'train':
            raise ValueError('Partial-iLIDS is test-only (no train split); train on Market-1501.')
        side = 0 if self.split == 'query' else 1
        root, layout = None, self.layout
        if layout is None:
            for name, paths in self.LAYOUTS.items():
                try:
                    root = self.resolve_dataset_root(list(paths))
                    layout = name
                    break
                except FileNotFoundError:
                    continue
            if root is None:
                layout = 'folders'  # raise the error of the original layout
        if root is None:
            root = self.resolve_dataset_root([self.LAYOUTS[layout][side]])
        target = osp.join(root, self.LAYOUTS[layout][side])
        if layout == 'lists':
            entries = []
            for path, label, where in self.read_list_entries(target, 'Probe/001.jpg', root,
                                                             with_label=False):
                if not osp.isfile(path):
                    raise DatasetFormatError(
                        f'Partial-iLIDS: {where} lists {osp.relpath(path, root)!r} but {path!r} '
                        'does not exist.')
                entries.append((path, label))
        else:
            entries = [(p, None) for p in self.list_images(target)]
        samples = []
        for path, label in entries:
            if label is None:
                label = int(self.match_name(self.NAME_PATTERN, path, self.NAME_EXAMPLE).group(1))
            samples.append(dict(img_path=path, pid=label, camid=side, modality='visible'))
        return samples


@DATASETS.register_module()
class PDukeMTMCReID(BodyImagesDataset):
    """P-DukeMTMC-reID (Zhuo et al., 2019): DukeMTMC-reID identities with occluded/whole images.

    Layout (``data_root`` may be the folder or its parent)::

        P-DukeMTMC-reID/
        ├── train/
        │   ├── occluded_body_images/0005/0005_c2_f0046985.jpg ...   camid 0
        │   └── whole_body_images/0005/0005_c5_f0051781.jpg ...      camid 1
        ├── test/
        │   ├── occluded_body_images/<pid>/<pid>_*.jpg ...   split 'query'   (camid 0)
        │   └── whole_body_images/<pid>/<pid>_*.jpg ...      split 'gallery' (camid 1)
        └── part_masks/   (synthetic data only) the same tree with .png masks

    pid = ``name.split('_')[0]``; ``modality='visible'``. Split 'train' holds both kinds (camid
    0 occluded, 1 whole), relabelled. Train 665 ids / 12,927 images; test 634 ids: query 2,163,
    gallery 9,053.

    Args:
        data_root: see above.
        split: ``'train'`` | ``'query'`` | ``'gallery'``.
        verify_images: decode every image at scan time.
    """

    DATASET_NAME = 'P-DukeMTMC-reID'
    ROOT_NAMES = ('P-DukeMTMC-reID', 'P-DukeMTMC-reid', 'PDukeMTMC-reID', 'P_DukeMTMC_reID',
                  'p_dukemtmc', 'P-DukeMTMC')
    NAME_EXAMPLE = '0005_c2_f0046985.jpg'

    def parse_split(self) -> List[Dict]:
        part = 'train' if self.split == 'train' else 'test'
        kinds = {'train': (0, 1), 'query': (0,), 'gallery': (1,)}[self.split]
        subs = [osp.join(part, (self.QUERY_DIR, self.GALLERY_DIR)[k]) for k in kinds]
        root = self.resolve_dataset_root(subs)
        samples = []
        for kind, sub in zip(kinds, subs):
            samples += self.scan_body_folder(osp.join(root, sub), camid=kind)
        return samples


@DATASETS.register_module()
class PETHZ(BodyImagesDataset):
    """P-ETHZ (Zhuo et al., 2018): 85 identities, 1-30 occluded and whole-body images each.

    Layout (``data_root`` may be the folder or its parent)::

        P_ETHZ/
        ├── occluded_body_images/001/001_01.png ...   query (camid 0)
        ├── whole_body_images/001/001_01.png ...      gallery (camid 1)
        └── part_masks/   (synthetic data only) the same tree with .png masks

    pid = ``name.split('_')[0]``; ``modality='visible'``.

    * ``id_split=False`` (default; PVPM/bpbreid): test-only over all identities; split 'train'
      raises.
    * ``id_split=True`` (the thesis' 1:1 protocol): identities are shuffled with
      ``split_seed`` and halved (train gets ``n // 2``); 'train' holds both kinds of the training
      identities (camid 0/1, relabelled), 'query'/'gallery' the test identities.

    Args:
        data_root: see above.
        split: ``'train'`` | ``'query'`` | ``'gallery'``.
        id_split: use the seeded 1:1 identity split.
        split_seed: seed of that split (``numpy.random.default_rng(split_seed)``).
        verify_images: decode every image at scan time.
    """

    DATASET_NAME = 'P-ETHZ'
    ROOT_NAMES = ('P_ETHZ', 'P-ETHZ', 'PETHZ', 'p_ethz')
    NAME_EXAMPLE = '001_01.png'
    TEST_ONLY_HINT = 'pass id_split=True for the seeded 1:1 identity split'

    def __init__(self, data_root: str = '', split: str = 'query', id_split: bool = False,
                 split_seed: int = 0, **kwargs):
        self.id_split = id_split
        self.split_seed = split_seed
        super().__init__(data_root=data_root, split=split, **kwargs)

    @staticmethod
    def split_identities(pids, seed: int):
        """The seeded 1:1 split: ``(train_pids, test_pids)`` as sorted lists."""
        pids = np.array(sorted(set(pids)))
        perm = np.random.default_rng(seed).permutation(len(pids))
        n_train = len(pids) // 2
        return sorted(pids[perm[:n_train]].tolist()), sorted(pids[perm[n_train:]].tolist())

    def parse_split(self) -> List[Dict]:
        if not self.id_split:
            return super().parse_split()
        root = self.resolve_dataset_root([self.QUERY_DIR, self.GALLERY_DIR])
        occluded = self.scan_body_folder(osp.join(root, self.QUERY_DIR), camid=0)
        whole = self.scan_body_folder(osp.join(root, self.GALLERY_DIR), camid=1)
        train_pids, test_pids = self.split_identities(
            [s['pid'] for s in occluded + whole], self.split_seed)
        keep = set(train_pids if self.split == 'train' else test_pids)
        pool = {'train': occluded + whole, 'query': occluded, 'gallery': whole}[self.split]
        return [s for s in pool if s['pid'] in keep]
