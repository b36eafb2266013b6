"""Occluded-Duke and Occluded-REID parsers."""
import os.path as osp
import re
from typing import Dict, List

from asym_plugins.registry import DATASETS

from .base import DatasetFormatError
from .file_layout import BoundingBoxFolderDataset, FileLayoutDataset


@DATASETS.register_module()
class OccludedDuke(BoundingBoxFolderDataset):
    """Occluded-DukeMTMC (Miao et al., ICCV 2019): DukeMTMC-reID re-split so queries are occluded.

    Layout (``data_root`` may be ``Occluded_Duke/`` itself or its parent)::

        Occluded_Duke/
        ├── bounding_box_train/   0001_c2_f0046182.jpg ...   split 'train'
        ├── query/                0005_c2_f0046985.jpg ...   split 'query' (all occluded)
        ├── bounding_box_test/    0002_c1_f0044158.jpg ...   split 'gallery'
        └── part_masks/           (synthetic data only) the same tree with .png masks

    DukeMTMC-reID naming (regex ``(-1|\\d+)_c(\\d+)``, cameras c1..c8, pid -1 ignored). ``camid``
    is 0-based; ``modality='visible'``. Commonly quoted sizes: train 702 ids / 15,618 images;
    query 519 ids / 2,210; gallery 1,110 ids / 17,661.

    Args:
        data_root: see above.
        split: ``'train'`` | ``'query'`` | ``'gallery'``.
        verify_images: decode every image at scan time.
    """

    DATASET_NAME = 'Occluded-Duke'
    ROOT_NAMES = ('Occluded_Duke', 'Occluded-Duke', 'occluded_duke', 'OccludedDuke',
                  'Occluded_DukeMTMC')
    NAME_EXAMPLE = '0001_c2_f0046182.jpg'
    NUM_CAMS = 8


class BodyImagesDataset(FileLayoutDataset):
    """Test sets released as ``{occluded_body_images, whole_body_images}/<pid>/<pid>_*.<ext>``.

    Query = occluded (or partial) images with ``camid`` 0, gallery = whole-body images with
    ``camid`` 1, so the same-camera rule removes nothing. pid = ``name.split('_')[0]``; a
    numeric identity folder must hold that pid (``001/002_01.tif`` raises naming the file).
    """

    QUERY_DIR = 'occluded_body_images'
    GALLERY_DIR = 'whole_body_images'
    NAME_PATTERN = re.compile(r'^(\d+)_')
    NAME_EXAMPLE = '001_01.tif'
    TEST_ONLY_HINT = 'train on Market-1501 and evaluate here'

    def parse_split(self) -> List[Dict]:
        if self.split == 'train':
            raise ValueError(f'{self._name} is test-only (no train split); {self.TEST_ONLY_HINT}.')
        sub = self.QUERY_DIR if self.split == 'query' else self.GALLERY_DIR
        root = self.resolve_dataset_root([sub])
        return self.scan_body_folder(osp.join(root, sub), camid=0 if self.split == 'query' else 1)

    def scan_body_folder(self, folder: str, camid: int) -> List[Dict]:
        samples = []
        for path in self.list_images_in_pid_folders(folder):
            m = self.match_name(self.NAME_PATTERN, path, self.NAME_EXAMPLE)
            pid, parent = int(m.group(1)), osp.basename(osp.dirname(path))
            if parent.isdigit() and int(parent) != pid:
                raise DatasetFormatError(
                    f'{self._name}: file {path!r} names pid {pid} but sits in the folder of '
                    f'identity {parent}; expected <pid>/<pid>_*.ext, e.g. '
                    f'{parent}/{parent}_01{osp.splitext(path)[1]}. Move or rename the file.')
            samples.append(dict(img_path=path, pid=pid, camid=camid, modality='visible'))
        return samples


@DATASETS.register_module()
class OccludedREID(BodyImagesDataset):
    """Occluded-REID (Zhuo et al., ICME 2018): 200 identities x (5 occluded + 5 whole-body).

    Layout (``data_root`` may be ``Occluded_REID/`` itself or its parent)::

        Occluded_REID/
        ├── occluded_body_images/001/001_01.tif ...   split 'query'   (camid 0)
        ├── whole_body_images/001/001_01.tif ...      split 'gallery' (camid 1)
        └── part_masks/   (synthetic data only) the same tree with .png masks

    pid = ``name.split('_')[0]``; ``modality='visible'``. Test-only: ``split='train'`` raises
    (the protocol trains on Market-1501). Query 1,000 / gallery 1,000 images.

    Args:
        data_root: see above.
        split: ``'query'`` | ``'gallery'``.
        verify_images: decode every image at scan time.
    """

    DATASET_NAME = 'Occluded-REID'
    ROOT_NAMES = ('Occluded_REID', 'Occluded-REID', 'OccludedREID', 'occluded_reid')
    NAME_EXAMPLE = '001_01.tif'
