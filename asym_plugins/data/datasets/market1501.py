"""Market-1501 parser."""
from asym_plugins.registry import DATASETS

from .file_layout import BoundingBoxFolderDataset


@DATASETS.register_module()
class Market1501(BoundingBoxFolderDataset):
    """Market-1501 (Zheng et al., ICCV 2015): 1,501 identities, 6 cameras.

    Layout (``data_root`` may be ``Market-1501-v15.09.15/`` itself, its parent, TransReID's
    ``market1501/`` holding the three folders directly, or torchreid's
    ``market1501/Market-1501-v15.09.15/`` nesting)::

        Market-1501-v15.09.15/
        ├── bounding_box_train/   0002_c1s1_000451_03.jpg ...   split 'train'
        ├── query/                0001_c1s1_001051_00.jpg ...   split 'query'
        ├── bounding_box_test/    0000_c1s1_000151_01.jpg ...   split 'gallery'
        │                         -1_c1s1_000401_03.jpg  (junk)
        └── part_masks/           (synthetic data only) the same tree with .png masks

    Names: ``<pid>_c<cam>s<seq>_<frame>_<box>.jpg``, regex ``(-1|\\d+)_c(\\d+)``. pid ``-1``
    (junk) images are ignored with a logged count; pid ``0`` (distractors) are kept in the
    gallery as negatives. ``camid`` is 0-based (``c1`` -> 0); ``modality='visible'``.
    Non-image files (``Thumbs.db``) are ignored. Commonly quoted sizes: train 751 ids / 12,936
    images; query 750 ids / 3,368; gallery 15,913.

    Args:
        data_root: see above.
        split: ``'train'`` | ``'query'`` | ``'gallery'``.
        verify_images: decode every image at scan time (raises naming an undecodable file).

    Examples::
        >>> ds = Market1501(data_root='data/market1501', split='query')
        >>> ds.metainfo['num_pids'], ds[0]['camid']
    """

    DATASET_NAME = 'Market-1501'
    ROOT_NAMES = ('Market-1501-v15.09.15', 'market1501', 'market1501/Market-1501-v15.09.15',
                  'Market-1501', 'Market1501', 'market1501/Market-1501')
    NAME_EXAMPLE = '0002_c1s1_000451_03.jpg'
    NUM_CAMS = 6
