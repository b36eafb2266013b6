"""The four methods of the thesis; importing this package registers their models, losses,
metrics, teachers and re-rankers."""
from . import mcma, mos, sap, sim

__all__ = ['mcma', 'mos', 'sap', 'sim']
