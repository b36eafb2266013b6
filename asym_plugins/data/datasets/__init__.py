from .base import DatasetFormatError, ReIDDataset

__all__ = ['ReIDDataset', 'DatasetFormatError']

# Dataset parsers (one module per dataset family) and the query + gallery test wrapper.
from .dukemtmc import DukeMTMCReID  # noqa: E402
from .file_layout import FileLayoutDataset  # noqa: E402
from .market1501 import Market1501  # noqa: E402
from .msmt17 import MSMT17  # noqa: E402
from .occluded import OccludedDuke, OccludedREID  # noqa: E402
from .partial import PartialILIDS, PartialREID, PDukeMTMCReID, PETHZ  # noqa: E402
from .query_gallery import QueryGalleryDataset  # noqa: E402
from .regdb import RegDB  # noqa: E402
from .sysu_mm01 import SYSUMM01  # noqa: E402
from .text_pedes import CUHKPEDES, ICFGPEDES, RSTPReid  # noqa: E402

__all__ += [
    'FileLayoutDataset', 'Market1501', 'DukeMTMCReID', 'MSMT17', 'OccludedDuke', 'OccludedREID',
    'PartialREID', 'PartialILIDS', 'PDukeMTMCReID', 'PETHZ', 'SYSUMM01', 'RegDB', 'CUHKPEDES',
    'ICFGPEDES', 'RSTPReid', 'QueryGalleryDataset']
