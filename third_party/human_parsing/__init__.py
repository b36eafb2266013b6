"""Label sets of external human parsers mapped to asym-reid's part-label ids."""
from .label_sets import ASYM_PART_NAMES, LABEL_SETS, label_set_lut

__all__ = ['ASYM_PART_NAMES', 'LABEL_SETS', 'label_set_lut']
