"""Pictures of results (``tools/visualize.py``): ranked lists, SIM before / after, SAP's part
maps, MCMA's text queries and sample sheets of the synthetic world.

Examples::
    >>> from asym_plugins.visualization import ranked_gallery, compose_sheet, world_sheet
"""
from .drawing import (
                      BLUE,
                      GREEN,
                      GREY,
                      PART_COLOURS,
                      RED,
                      overlay_heatmap,
                      overlay_mask,
                      save_png,
                      text_strip,
                      tile,
)
from .ranking import (
                      feature_distance,
                      pick_queries,
                      query_cell,
                      ranked_gallery,
                      ranklist_block,
                      ranklist_record,
)
from .sheet import Cell, SheetLayout, compose_sheet
from .world_sheet import world_sheet

__all__ = [
    'BLUE', 'GREEN', 'GREY', 'RED', 'PART_COLOURS', 'overlay_heatmap', 'overlay_mask',
    'save_png', 'text_strip', 'tile', 'feature_distance', 'pick_queries', 'query_cell',
    'ranked_gallery', 'ranklist_block', 'ranklist_record', 'Cell', 'SheetLayout',
    'compose_sheet', 'world_sheet'
]
