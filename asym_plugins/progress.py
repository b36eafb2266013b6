"""Progress bars: tqdm on rank 0, shown only where somebody watches.

``enabled=None`` (the default everywhere in the package) shows a bar only when stderr is a
terminal, so log files and CI output stay clean; ``True`` forces it, ``False`` hides it.
"""
from typing import Iterable, Optional

from tqdm import tqdm


def progress(iterable: Optional[Iterable] = None, *, total: Optional[int] = None,
             desc: Optional[str] = None, unit: str = 'it', enabled: Optional[bool] = None,
             leave: bool = False) -> tqdm:
    """A ``tqdm`` bar (or a disabled one) following the rule of the module docstring."""
    from mmengine.dist import get_rank
    disable = True if enabled is False or get_rank() != 0 else (None if enabled is None
                                                                else False)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=leave,
                dynamic_ncols=True)
