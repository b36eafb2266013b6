"""``compose_sheet``: rows of blocks of equally sized cells, with the frame box of every tile.

A sheet is ``margin`` white pixels around: optional block titles (one text line over each
block of the first row), then the rows, ``gap`` pixels apart. A row is an optional header
(``row_header_h`` pixels of wrapped text, e.g. a caption) over its blocks; blocks are
``block_gap`` pixels apart and hold cells ``gap`` pixels apart (see :mod:`.drawing` for a
cell). All coordinates are returned so that tests and users can find every tile.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .drawing import cell, text_strip


class Cell(NamedTuple):
    """One tile: the image (None: left blank), its frame colour (None: white), its label."""
    img: Optional[np.ndarray]
    colour: Optional[Sequence[int]] = None
    label: str = ''


class SheetLayout(NamedTuple):
    size: Tuple[int, int]      # (H, W) of the image inside a frame
    border: int = 3
    label_h: int = 14
    gap: int = 4
    block_gap: int = 16
    margin: int = 6
    title_h: int = 16
    row_header_h: int = 0
    legend_h: int = 28         # height of the legend strip under the sheet (two lines)

    @property
    def cell_wh(self) -> Tuple[int, int]:
        h, w = self.size
        return w + 2 * self.border, self.label_h + h + 2 * self.border


def compose_sheet(rows: Sequence[Sequence[Sequence[Cell]]], layout: SheetLayout,
                  titles: Optional[Sequence[str]] = None,
                  row_headers: Optional[Sequence[str]] = None, legend: Optional[str] = None
                  ) -> Tuple[np.ndarray, List[List[List[List[int]]]]]:
    """Draw ``rows[r][b][c]`` (row, block, cell) on a white sheet; ``legend`` (what the frame
    colours, labels and columns mean) is written under the last row.

    Returns ``(image (H, W, 3) uint8 RGB, boxes)`` with ``boxes[r][b][c] = [x0, y0, x1, y1]``
    the tile's frame (border included, end exclusive) of every non-blank cell (``None`` for a
    blank one).
    """
    if not rows:
        raise ValueError('compose_sheet: nothing to draw (no rows)')
    L = layout
    cw, ch = L.cell_wh
    n_blocks = max(len(r) for r in rows)
    block_w = [0] * n_blocks
    for r in rows:
        for b, block in enumerate(r):
            block_w[b] = max(block_w[b], len(block) * cw + max(0, len(block) - 1) * L.gap)
    block_x = [L.margin]
    for b in range(1, n_blocks):
        block_x.append(block_x[-1] + block_w[b - 1] + L.block_gap)
    width = block_x[-1] + block_w[-1] + L.margin
    header_h = L.row_header_h if row_headers is not None else 0
    title_h = L.title_h if titles else 0
    row_h = header_h + ch
    legend_h = L.legend_h if legend else 0
    height = 2 * L.margin + title_h + len(rows) * row_h + (len(rows) - 1) * L.gap + legend_h
    sheet = np.full((height, width, 3), 255, np.uint8)
    if legend:
        sheet[height - L.margin - legend_h:height - L.margin, L.margin:width - L.margin] = \
            text_strip(legend, width - 2 * L.margin, legend_h, wrap=True)

    if titles:
        for b, t in enumerate(titles[:n_blocks]):
            if block_w[b]:
                sheet[L.margin:L.margin + title_h, block_x[b]:block_x[b] + block_w[b]] = \
                    text_strip(t, block_w[b], title_h, scale=0.4)
    boxes = []
    for r, row in enumerate(rows):
        y = L.margin + title_h + r * (row_h + L.gap)
        if header_h:
            sheet[y:y + header_h, L.margin:width - L.margin] = text_strip(
                row_headers[r], width - 2 * L.margin, header_h, wrap=True)
        y += header_h
        row_boxes = []
        for b, block in enumerate(row):
            block_boxes = []
            for c, item in enumerate(block):
                x = block_x[b] + c * (cw + L.gap)
                if item is None or item.img is None:
                    block_boxes.append(None)
                    continue
                sheet[y:y + ch, x:x + cw] = cell(item.img, L.size, item.label, L.label_h,
                                                 L.border, item.colour)
                block_boxes.append([x, y + L.label_h, x + cw, y + ch])
            row_boxes.append(block_boxes)
        boxes.append(row_boxes)
    return sheet, boxes


__all__ = ['Cell', 'SheetLayout', 'compose_sheet']
