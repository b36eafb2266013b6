"""Drawing helpers (numpy + OpenCV, RGB uint8): bordered tiles, text strips, grids, overlays.

Every picture of ``tools/visualize.py`` is a grid of equally sized *cells*; a cell is a label
strip of ``label_h`` pixels above a tile of ``(h + 2 * border, w + 2 * border)`` pixels whose
frame of ``border`` pixels carries the colour code (green: same identity, red: another).
"""
import os
import os.path as osp
import textwrap
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

GREEN = (0, 190, 0)
RED = (220, 0, 0)
BLUE = (40, 90, 230)      # the query
GREY = (150, 150, 150)    # neutral frame
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
FONT = cv2.FONT_HERSHEY_SIMPLEX

#: Colour of each part-label id (CONTRACTS.md): 0 background (none), 1 head, 2 upper body,
#: 3 lower body, 4 shoes, 5 bag, 6 occluder.
PART_COLOURS = np.array([(0, 0, 0), (255, 215, 0), (230, 30, 30), (30, 80, 240),
                         (200, 0, 200), (0, 200, 80), (128, 128, 128)], np.uint8)


def to_rgb_uint8(img: np.ndarray) -> np.ndarray:
    """Grey (H, W) or (H, W, 1|3) image of any numeric type -> (H, W, 3) uint8."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f'expected an (H, W) or (H, W, 3) image, got shape {img.shape}')
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def tile(img: np.ndarray, size: Tuple[int, int], border: int = 3,
         colour: Optional[Sequence[int]] = None) -> np.ndarray:
    """``img`` resized to ``size`` (H, W) inside a frame of ``border`` pixels of ``colour``
    (white when None): (H + 2 border, W + 2 border, 3)."""
    h, w = size
    inner = cv2.resize(to_rgb_uint8(img), (w, h), interpolation=cv2.INTER_AREA)
    out = np.empty((h + 2 * border, w + 2 * border, 3), np.uint8)
    out[:] = WHITE if colour is None else colour
    out[border:border + h, border:border + w] = inner
    return out


def text_strip(text: str, width: int, height: int, scale: float = 0.35,
               colour: Sequence[int] = BLACK, wrap: bool = False) -> np.ndarray:
    """White (height, width, 3) strip with ``text``; ``wrap`` breaks it into as many lines as
    fit (the last one is cut with '...')."""
    out = np.full((height, width, 3), 255, np.uint8)
    if not text:
        return out
    (cw, ch), base = cv2.getTextSize('M', FONT, scale, 1)
    line_h = ch + base + 2
    if wrap:
        lines = textwrap.wrap(text, max(1, width // max(cw, 1) + 2))
        max_lines = max(1, (height - 2) // line_h)
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = lines[-1][:max(0, len(lines[-1]) - 3)] + '...'
    else:
        lines = [text]
    for i, line in enumerate(lines):
        # Shrink a line that is still too wide (long words, unwrapped labels).
        while len(line) > 1 and cv2.getTextSize(line, FONT, scale, 1)[0][0] > width - 2:
            line = line[:-1]
        cv2.putText(out, line, (1, 1 + ch + i * line_h), FONT, scale, tuple(int(c) for c in colour),
                    1, cv2.LINE_AA)
    return out


def cell(img: np.ndarray, size: Tuple[int, int], label: str = '', label_h: int = 14,
         border: int = 3, colour: Optional[Sequence[int]] = None) -> np.ndarray:
    """A label strip of ``label_h`` pixels over a bordered tile (see the module docstring)."""
    t = tile(img, size, border, colour)
    if label_h <= 0:
        return t
    return np.concatenate([text_strip(label, t.shape[1], label_h), t], axis=0)


def overlay_mask(img: np.ndarray, mask: np.ndarray, alpha: float = 0.55,
                 colours: np.ndarray = PART_COLOURS) -> np.ndarray:
    """Colour every pixel of label ``k > 0`` with ``colours[k]`` (blend ``alpha``); the mask
    is resized (nearest) to the image. Label 0 (background) stays as it is."""
    img = to_rgb_uint8(img)
    mask = np.asarray(mask)
    if mask.shape[:2] != img.shape[:2]:
        mask = cv2.resize(mask.astype(np.uint8), (img.shape[1], img.shape[0]),
                          interpolation=cv2.INTER_NEAREST)
    mask = np.clip(mask.astype(np.int64), 0, len(colours) - 1)
    out = img.astype(np.float32)
    fg = mask > 0
    out[fg] = (1 - alpha) * out[fg] + alpha * colours[mask[fg]].astype(np.float32)
    return out.round().astype(np.uint8)


def overlay_heatmap(img: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """A (h, w) map, min-max scaled and resized (bilinear) to the image, as a JET overlay."""
    img = to_rgb_uint8(img)
    heat = np.asarray(heat, np.float32)
    lo, hi = float(heat.min()), float(heat.max())
    heat = (heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat)
    heat = cv2.resize(heat, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    jet = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    return ((1 - alpha) * img + alpha * jet).round().astype(np.uint8)


def save_png(path: str, img: np.ndarray) -> str:
    """Write an RGB uint8 image as PNG (folders created); returns the path."""
    if not str(path).lower().endswith('.png'):
        raise ValueError(f'output {path!r} must end with .png')
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(to_rgb_uint8(img)[..., ::-1])):
        raise IOError(f'could not write {path!r}')
    return str(path)



__all__ = ['GREEN', 'RED', 'BLUE', 'GREY', 'WHITE', 'PART_COLOURS', 'to_rgb_uint8', 'tile',
           'text_strip', 'cell', 'overlay_mask',
           'overlay_heatmap', 'save_png']
