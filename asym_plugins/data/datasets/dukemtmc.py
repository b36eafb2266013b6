"""DukeMTMC-reID parser."""
from asym_plugins.registry import DATASETS

from .file_layout import BoundingBoxFolderDataset


@DATASETS.register_module()
class DukeMTMCReID(BoundingBoxFolderDataset):
    """DukeMTMC-reID (Zheng et al., ICCV 2017): 1,404 identities (+408 distractors), 8 cameras.

    Layout (``data_root`` may be ``DukeMTMC-reID/`` itself, its parent, or torchreid's
    ``dukemtmc-reid/DukeMTMC-reID/`` nesting)::

        DukeMTMC-reID/
        ├── bounding_box_train/   0001_c2_f0046182.jpg ...   split 'train'
        ├── query/                0005_c2_f0046985.jpg ...   split 'query'
        ├── bounding_box_test/    0002_c1_f0044158.jpg ...   split 'gallery'
        └── part_masks/           (synthetic data only) the same tree with .png masks

    Names: ``<pid>_c<cam>_f<frame>.jpg``, regex ``(-1|\\d+)_c(\\d+)``, cameras c1..c8. pid ``-1``
    would be junk (ignored, count logged). ``camid`` is 0-based (``c1`` -> 0);
    ``modality='visible'``. Commonly quoted sizes: train 702 ids / 16,522 images; query 702 /
    2,228; gallery 17,661.

    Args:
        data_root: see above.
        split: ``'train'`` | ``'query'`` | ``'gallery'``.
        verify_images: decode every image at scan time (raises naming an undecodable file).

    Examples::
        >>> ds = DukeMTMCReID(data_root='data', split='gallery')
    """

    DATASET_NAME = 'DukeMTMC-reID'
    ROOT_NAMES = ('DukeMTMC-reID', 'dukemtmc-reid', 'dukemtmc-reid/DukeMTMC-reID', 'dukemtmcreid',
                  'dukemtmcreid/DukeMTMC-reID', 'DukeMTMC-ReID', 'dukemtmc')
    NAME_EXAMPLE = '0001_c2_f0046182.jpg'
    NUM_CAMS = 8
