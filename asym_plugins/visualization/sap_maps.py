"""SAP pictures: the student's part / attention maps next to its teacher's part masks."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dataset import pseudo_collate

from .drawing import GREY, PART_COLOURS, overlay_heatmap, overlay_mask
from .sheet import Cell


def part_column_colours(label_map: Sequence[int], num_parts: int) -> np.ndarray:
    """Colour of each part column 0..K: that of the first label id mapped to it (so that a
    K = 4 model paints head / upper body / lower body / shoes as the label ids are painted)."""
    out = np.zeros((num_parts + 1, 3), np.uint8)
    for c in range(1, num_parts + 1):
        ids = [i for i, col in enumerate(label_map) if col == c]
        out[c] = PART_COLOURS[ids[0]] if ids else PART_COLOURS[min(c, len(PART_COLOURS) - 1)]
    return out


def teacher_config(cfg) -> Optional[dict]:
    """The teacher of the config's ``TeacherDistillationHook`` (None when there is none)."""
    for hook in cfg.get('custom_hooks', []) or []:
        if str(hook.get('type', '')).split('.')[-1] == 'TeacherDistillationHook':
            return dict(hook['teacher'])
    return None


def teacher_masks(teacher, images: torch.Tensor, samples: List, infos: List[dict]
                  ) -> torch.Tensor:
    """Part-label masks (N, H, W) of the packed uint8 images, from a batch teacher or (source
    teachers) the original images, resized (nearest) to the input size."""
    if not getattr(teacher, 'source_geometry', False):
        return teacher.batch_masks(images, samples).long()
    h, w = images.shape[-2:]
    out = []
    for info in infos:
        m = torch.as_tensor(np.asarray(teacher.source_mask(info)))[None, None].float()
        out.append(torch.nn.functional.interpolate(m, size=(h, w), mode='nearest')[0, 0])
    return torch.stack(out).long()


@torch.no_grad()
def sap_rows(model, dataset, indices: Sequence[int], teacher=None
             ) -> Tuple[List[List[List[Cell]]], Dict]:
    """One row per dataset index: image | teacher masks | student parts | K proxy maps | CLS.

    The teacher masks (label ids) are shown in the model's part columns (``part_label_map``),
    the student's parts are :meth:`SAPModel.part_maps`' ``assignment`` in the same colours,
    blank where every proxy map (min-max scaled) is below 0.5. Without a teacher the
    sample's own ``part_mask`` is used when it has one.
    """
    from asym_plugins.methods.sap.part_targets import map_part_labels
    batch = pseudo_collate([dataset[i] for i in indices])
    images = torch.stack(batch['inputs'])                       # uint8 (N, 3, H, W)
    data = model.data_preprocessor(batch, False)
    maps = {k: v.cpu() for k, v in model.part_maps(data['inputs']).items()}
    samples = data['data_samples']
    infos = [dataset.get_data_info(i) for i in indices]
    masks, source = None, 'teacher'
    if teacher is not None:
        masks = teacher_masks(teacher, images, samples, infos)
    elif all('part_mask' in s for s in samples):
        masks, source = torch.stack([s.part_mask.long().cpu() for s in samples]), 'part_mask'
    k = model.num_parts
    colours = part_column_colours(model.part_label_map, k)
    rows = []
    for n, sample in enumerate(samples):
        img = images[n].permute(1, 2, 0).numpy()
        meta = sample.metainfo
        row = [Cell(img, GREY, f"{meta.get('pid', '?')} c{int(meta.get('camid', -1)) + 1}")]
        if masks is not None:
            cols = map_part_labels(masks[n][None], model.part_label_map)[0].numpy()
            row.append(Cell(overlay_mask(img, cols, colours=colours), GREY, source))
        if 'proxy' in maps:
            proxy = maps['proxy'][n]
            strength = maps['proxy_scaled'][n].amax(0)
            assign = (maps['assignment'][n] + 1) * (strength >= 0.5)
            row.append(Cell(overlay_mask(img, assign.numpy(), colours=colours), GREY, 'student'))
            row += [Cell(overlay_heatmap(img, proxy[j].numpy()), GREY, f'part {j + 1}')
                    for j in range(k)]
        row.append(Cell(overlay_heatmap(img, maps['cls'][n].numpy()), GREY, 'CLS attn'))
        rows.append([row])
    info = dict(indices=[int(i) for i in indices], num_parts=k, mask_source=source if
                masks is not None else None, part_colours=colours.tolist(),
                img_paths=[s.metainfo.get('img_path') for s in samples])
    return rows, info


__all__ = ['part_column_colours', 'teacher_config', 'teacher_masks', 'sap_rows']
