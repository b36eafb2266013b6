"""Sample sheets of the synthetic world: per identity, its query and gallery images."""
from typing import Dict, List, Optional, Tuple

import numpy as np

from asym_plugins.data.synthetic import SyntheticWorld

from .drawing import BLUE, GREY, overlay_mask
from .sheet import Cell, SheetLayout, compose_sheet


def _label(rec: Dict) -> str:
    mod = 'IR ' if rec.get('modality') == 'infrared' else ''
    return f"{mod}{rec['pid']} c{rec['camid'] + 1}"


def world_sheet(world: SyntheticWorld, num_ids: int = 6, max_query: int = 3,
                max_gallery: int = 5, masks: bool = False,
                layout: Optional[SheetLayout] = None) -> Tuple[np.ndarray, Dict]:
    """One row per test identity (the first ``num_ids``): up to ``max_query`` query images
    (blue frames) then up to ``max_gallery`` gallery images (grey frames); ``masks`` blends the
    exact part masks over every image. The ``text`` preset, whose queries are captions, shows
    the first gallery image's first caption above each row instead of query images.

    Returns ``(image, info)``; ``info`` has the pids, the records' uids, the tile boxes
    (``boxes[row][block][i]``, blocks: query then gallery) and the captions shown.
    """
    text = world.config['query_type'] == 'text'
    layout = layout or SheetLayout(size=world.img_size, row_header_h=28 if text else 0)
    pids = world.pids('query')[:max(1, num_ids)]
    by_pid: Dict[str, Dict[int, List[Dict]]] = {}
    for split in ('query', 'gallery'):
        by_pid[split] = {}
        for rec in world.records(split):
            by_pid[split].setdefault(rec['pid'], []).append(rec)

    def cells(recs, colour):
        out = []
        for rec in recs:
            r = world.render(rec)
            img = overlay_mask(r['img'], r['mask']) if masks else r['img']
            out.append(Cell(img, colour, _label(rec)))
        return out

    rows, headers, uids = [], [], []
    for pid in pids:
        gal = by_pid['gallery'].get(pid, [])[:max_gallery]
        qry = [] if text else by_pid['query'].get(pid, [])[:max_query]
        rows.append(([cells(qry, BLUE)] if not text else []) + [cells(gal, GREY)])
        uids.append(dict(query=[r['uid'] for r in qry], gallery=[r['uid'] for r in gal]))
        if text:
            caps = gal[0].get('captions', []) if gal else []
            headers.append(f'"{caps[0]}"' if caps else '(no caption)')
    titles = ['gallery (captions are the queries)'] if text else ['query', 'gallery']
    overlay = '; coloured overlays: the exact part masks.' if masks else '.'
    legend = ('One row per identity. Blue frames: query images, grey: gallery images; labels: '
              '[IR = infrared] identity, camera' + overlay)
    if text:
        legend = ('One row per identity: its gallery images (grey frames); the quoted caption is '
                  'that identity\'s text query' + ('; overlays: part masks.' if masks else '.'))
    img, boxes = compose_sheet(rows, layout, titles=titles,
                               row_headers=headers if text else None, legend=legend)
    return img, dict(preset=world.preset, seed=world.seed, pids=pids, uids=uids, boxes=boxes,
                     captions=headers if text else None)


__all__ = ['world_sheet']
