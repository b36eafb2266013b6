"""Person geometry: draws an identity into a *material map*.

A material map is a uint8 HxW image whose values are the material ids below (skin, hair, upper
garment, pattern colour, ...). The visible image is a colour look-up of it, the infrared image an
intensity look-up, and the part mask a label look-up (:data:`MATERIAL_TO_PART`), so the three
always agree pixel for pixel.

Geometry is written in person units: ``u`` horizontal offset from the body axis and ``v`` height
from the top of the head, both in multiples of the person's height ``h`` (feet at ``v ~ 0.97``).
A :class:`Placement` maps them to pixels. Polygons are filled with 2 bits of sub-pixel precision.
"""
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np

from .palette import COLOURS, HAIR_COLOURS, SKIN_TONES

# Material ids.
BG, SKIN, HAIR, HAT, EYE, UPPER, UPPER2, LOGO, ARM_SKIN, LOWER, LEG_SKIN, SHOE, BAG, STRAP = \
    range(14)
NUM_MATERIALS = 16
MATERIAL_TO_PART = np.array([0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 5, 5, 0, 0], dtype=np.uint8)
VIEWS = ('front', 'back', 'side')

_SHIFT = 2
_SUB = float(1 << _SHIFT)


@dataclass
class Placement:
    """Where a person stands in the frame, in pixels.

    Attributes:
        cx: x of the body axis. ybottom: y of the soles. h: person height (pixels).
        wf: body width factor (build). mirror: flip left/right (side view: facing left).
    """
    cx: float
    ybottom: float
    h: float
    wf: float = 1.0
    mirror: bool = False

    @property
    def ytop(self) -> float:
        return self.ybottom - self.h

    def x(self, u: float) -> float:
        return self.cx + (-u if self.mirror else u) * self.h

    def y(self, v: float) -> float:
        return self.ytop + v * self.h

    def box(self) -> Tuple[float, float, float, float]:
        """Approximate (x0, y0, x1, y1) of the body in pixels (arms and bags included)."""
        half = 0.2 * self.h * self.wf
        return self.cx - half, self.ytop, self.cx + half, self.ybottom


class _Pen:
    """Fills shapes given in person units into a material map."""

    def __init__(self, mat: np.ndarray, pl: Placement):
        self.mat = mat
        self.pl = pl
        self.sx = (-1.0 if pl.mirror else 1.0) * pl.h * _SUB
        self.sy = pl.h * _SUB
        self.x0 = pl.cx * _SUB
        self.y0 = pl.ytop * _SUB

    def poly(self, material: int, uv: Sequence[Tuple[float, float]], wf: float = 1.0) -> None:
        a = np.asarray(uv, dtype=np.float64)
        pts = np.empty((len(a), 2), dtype=np.int32)
        pts[:, 0] = np.rint(self.x0 + a[:, 0] * wf * self.sx)
        pts[:, 1] = np.rint(self.y0 + a[:, 1] * self.sy)
        cv2.fillPoly(self.mat, [pts], int(material), cv2.LINE_8, _SHIFT)

    def rect(self, material: int, u0: float, v0: float, u1: float, v1: float,
             wf: float = 1.0) -> None:
        self.poly(material, [(u0, v0), (u1, v0), (u1, v1), (u0, v1)], wf)

    def ellipse(self, material: int, u: float, v: float, ru: float, rv: float,
                start: float = 0, end: float = 360, angle: float = 0, wf: float = 1.0) -> None:
        c = (int(round(self.x0 + u * wf * self.sx)), int(round(self.y0 + v * self.sy)))
        ax = (max(1, int(round(abs(ru * wf * self.sx)))), max(1, int(round(rv * self.sy))))
        if self.sx < 0:  # mirrored: reflect the arc
            start, end = 180 - end, 180 - start
            angle = -angle
        cv2.ellipse(self.mat, c, ax, angle, start, end, int(material), -1, cv2.LINE_8, _SHIFT)

    def line(self, material: int, u0: float, v0: float, u1: float, v1: float, width: float,
             wf: float = 1.0) -> None:
        """A thick segment as a quadrilateral (width in person units)."""
        d = np.array([(u1 - u0) * wf, v1 - v0])
        n = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9) * width / 2
        p0 = np.array([u0 * wf, v0])
        p1 = np.array([u1 * wf, v1])
        self.poly(material, [tuple(p0 + n), tuple(p1 + n), tuple(p1 - n), tuple(p0 - n)])


def _apply_pattern(mat: np.ndarray, a: Dict, pl: Placement) -> None:
    """Turn part of the upper garment into the pattern colour (stripes or checks)."""
    pattern = a['upper_pattern']
    if pattern not in ('stripes', 'checks'):
        return
    H, W = mat.shape
    y0 = max(0, int(pl.y(0.14)))
    y1 = min(H, int(np.ceil(pl.y(0.52))) + 1)
    if y1 <= y0:
        return
    period = max(2.0, 0.036 * pl.h)
    rows = ((np.arange(y0, y1) - pl.y(0.16)) // (period / 2)).astype(np.int64) % 2 == 1
    sub = mat[y0:y1]
    if pattern == 'stripes':
        sel = (sub == UPPER) & rows[:, None]
    else:
        cols = ((np.arange(W) - pl.cx) // (period / 2)).astype(np.int64) % 2 == 1
        sel = (sub == UPPER) & (rows[:, None] ^ cols[None, :])
    sub[sel] = UPPER2


def _legs(pen: _Pen, a: Dict, view: str, hip: float, wf: float) -> None:
    lt = a['lower_type']
    if view == 'side':
        # Walking stance: front leg forward (+u), back leg behind.
        legs = [((0.0, 0.5), (-0.085, 0.925)), ((0.0, 0.5), (0.09, 0.925))]
        for (u0, v0), (u1, v1) in legs:
            pen.line(LEG_SKIN if lt != 'trousers' else LOWER, u0, v0, u1, v1, 0.075, wf)
            pen.ellipse(SHOE, u1 + 0.02, v1 + 0.018, 0.05, 0.026)
        if lt == 'trousers':
            pen.poly(LOWER, [(-0.075, 0.48), (0.075, 0.48), (0.07, 0.62), (-0.07, 0.62)], wf)
        elif lt == 'shorts':
            pen.poly(LOWER, [(-0.075, 0.48), (0.075, 0.48), (0.1, 0.66), (-0.1, 0.66)], wf)
            for (u0, v0), (u1, v1) in legs:
                t = 0.4
                pen.line(LOWER, u0, v0, u0 + t * (u1 - u0), v0 + t * (v1 - v0), 0.085, wf)
        else:
            pen.poly(LOWER, [(-0.075, 0.48), (0.075, 0.48), (0.12, 0.71), (-0.12, 0.71)], wf)
        return
    # Front / back: legs parallel.
    if lt == 'trousers':
        pen.poly(LOWER, [(-hip, 0.48), (hip, 0.48), (hip - 0.008, 0.915), (0.016, 0.915),
                         (0.0, 0.6), (-0.016, 0.915), (-hip + 0.008, 0.915)], wf)
    else:
        for s in (-1, 1):
            pen.poly(LEG_SKIN, [(s * 0.012, 0.6), (s * (hip - 0.01), 0.6),
                                (s * (hip - 0.02), 0.915), (s * 0.02, 0.915)], wf)
        if lt == 'shorts':
            pen.poly(LOWER, [(-hip, 0.48), (hip, 0.48), (hip + 0.005, 0.67), (0.012, 0.67),
                             (0.0, 0.62), (-0.012, 0.67), (-hip - 0.005, 0.67)], wf)
        else:
            pen.poly(LOWER, [(-hip, 0.48), (hip, 0.48), (hip + 0.045, 0.72),
                             (-hip - 0.045, 0.72)], wf)
    for s in (-1, 1):
        pen.ellipse(SHOE, s * 0.055, 0.94, 0.045, 0.028, wf=wf)


def _head(pen: _Pen, a: Dict, view: str) -> None:
    long_hair = a['hair_length'] == 'long'
    pen.poly(SKIN, [(-0.026, 0.12), (0.026, 0.12), (0.029, 0.172), (-0.029, 0.172)])
    if view == 'side':
        pen.ellipse(SKIN, 0.006, 0.075, 0.05, 0.066)
        pen.ellipse(SKIN, 0.05, 0.082, 0.012, 0.014)  # nose
        pen.ellipse(HAIR, -0.004, 0.07, 0.052, 0.062, 180, 360)
        pen.ellipse(HAIR, -0.016, 0.072, 0.04, 0.058)
        if long_hair:
            pen.poly(HAIR, [(-0.056, 0.06), (-0.005, 0.06), (-0.012, 0.225), (-0.07, 0.225)])
        else:
            pen.poly(HAIR, [(-0.056, 0.06), (-0.01, 0.06), (-0.02, 0.12), (-0.052, 0.115)])
        pen.ellipse(EYE, 0.03, 0.072, 0.007, 0.006)
    elif view == 'front':
        pen.ellipse(SKIN, 0.0, 0.075, 0.052, 0.066)
        pen.ellipse(HAIR, 0.0, 0.066, 0.056, 0.058, 180, 360)
        if long_hair:
            for s in (-1, 1):
                pen.poly(HAIR, [(s * 0.04, 0.05), (s * 0.06, 0.06), (s * 0.068, 0.2),
                                (s * 0.042, 0.2)])
        for s in (-1, 1):
            pen.ellipse(EYE, s * 0.02, 0.078, 0.007, 0.006)
    else:  # back: hair covers the head
        pen.ellipse(SKIN, 0.0, 0.075, 0.052, 0.066)
        if long_hair:
            pen.ellipse(HAIR, 0.0, 0.073, 0.056, 0.068)
            pen.poly(HAIR, [(-0.056, 0.07), (0.056, 0.07), (0.066, 0.23), (-0.066, 0.23)])
        else:
            pen.ellipse(HAIR, 0.0, 0.07, 0.055, 0.061)
    if a['hat'] is not None:
        pen.ellipse(HAT, 0.0 if view != 'side' else 0.004, 0.05, 0.058, 0.046, 180, 360)
        pen.rect(HAT, -0.058, 0.046, 0.058, 0.056)
        if view == 'side':
            pen.poly(HAT, [(0.03, 0.046), (0.1, 0.05), (0.1, 0.058), (0.03, 0.058)])
        elif view == 'front':
            pen.rect(HAT, -0.062, 0.05, 0.062, 0.062)


def draw_person(mat: np.ndarray, a: Dict, view: str, pl: Placement) -> None:
    """Draw identity ``a`` seen from ``view`` into material map ``mat`` (in place).

    Draw order is back to front, so later shapes cover earlier ones.

    Examples::
        >>> from asym_plugins.data.synthetic.identities import sample_identity
        >>> mat = np.zeros((128, 64), np.uint8)
        >>> draw_person(mat, sample_identity(np.random.default_rng(0)), 'front',
        ...             Placement(cx=32, ybottom=124, h=112))
        >>> bool((MATERIAL_TO_PART[mat] == 1).any())
        True
    """
    if view not in VIEWS:
        raise ValueError(f'draw_person: view={view!r}; expected one of {VIEWS}.')
    pen = _Pen(mat, pl)
    wf = pl.wf
    woman = a['gender'] == 'woman'
    sh = 0.112 if woman else 0.125    # half shoulder width
    waist = 0.094 if woman else 0.106
    hip = 0.116 if woman else 0.11
    bag = a['bag']
    short = a['sleeve'] == 'short'

    if view == 'side':
        if bag == 'backpack':
            pen.poly(BAG, [(-0.17, 0.2), (-0.06, 0.19), (-0.06, 0.44), (-0.165, 0.44)], wf)
        _legs(pen, a, view, hip, wf)
        pen.poly(UPPER, [(-0.072, 0.165), (0.05, 0.16), (0.078, 0.3), (0.072, 0.5),
                         (-0.076, 0.5), (-0.088, 0.3)], wf)
        # The near arm swings slightly forward; sleeve over skin.
        pen.line(ARM_SKIN, -0.005, 0.18, 0.045, 0.46, 0.05, wf)
        pen.ellipse(ARM_SKIN, 0.047, 0.475, 0.022, 0.022, wf=wf)
        t = 0.32 if short else 0.95
        pen.line(UPPER, -0.005, 0.175, -0.005 + t * 0.05, 0.18 + t * 0.28, 0.06, wf)
        _apply_pattern(mat, a, pl)
        _head(pen, a, view)
        if bag == 'backpack':
            pen.line(STRAP, 0.02, 0.175, -0.055, 0.36, 0.014, wf)
        elif bag == 'handbag':
            pen.poly(BAG, [(0.03, 0.46), (0.12, 0.46), (0.13, 0.57), (0.02, 0.57)], wf)
            pen.line(STRAP, 0.045, 0.46, 0.06, 0.42, 0.012, wf)
        elif bag == 'shoulder bag':
            pen.line(STRAP, 0.0, 0.17, -0.02, 0.44, 0.014, wf)
            pen.poly(BAG, [(-0.07, 0.42), (0.05, 0.42), (0.05, 0.53), (-0.07, 0.53)], wf)
        return

    back = view == 'back'
    if bag == 'handbag' or bag == 'shoulder bag':
        side = -1 if back else 1   # same hand of the person, seen from the other side
    _legs(pen, a, view, hip, wf)
    pen.poly(UPPER, [(-sh, 0.17), (-0.04, 0.152), (0.04, 0.152), (sh, 0.17),
                     (waist + 0.004, 0.505), (-waist - 0.004, 0.505)], wf)
    for s in (-1, 1):
        arm = [(s * (sh - 0.002), 0.165), (s * (sh + 0.04), 0.19), (s * (sh + 0.048), 0.46),
               (s * (sh + 0.012), 0.46), (s * (sh - 0.01), 0.23)]
        pen.poly(ARM_SKIN, arm, wf)
        pen.ellipse(ARM_SKIN, s * (sh + 0.03), 0.478, 0.021, 0.022, wf=wf)
        if short:
            pen.poly(UPPER, [(s * (sh - 0.004), 0.165), (s * (sh + 0.044), 0.19),
                             (s * (sh + 0.046), 0.27), (s * (sh - 0.008), 0.27)], wf)
        else:
            pen.poly(UPPER, [(s * (sh - 0.004), 0.165), (s * (sh + 0.042), 0.19),
                             (s * (sh + 0.05), 0.455), (s * (sh + 0.01), 0.455),
                             (s * (sh - 0.01), 0.23)], wf)
    _apply_pattern(mat, a, pl)
    if a['upper_pattern'] == 'logo' and not back:
        pen.ellipse(LOGO, 0.0, 0.28, 0.038, 0.032, wf=wf)
        pen.rect(UPPER, -0.012, 0.27, 0.012, 0.29, wf)
    if bag == 'backpack':
        if back:
            pen.poly(BAG, [(-0.1, 0.2), (0.1, 0.2), (0.105, 0.44), (-0.105, 0.44)], wf)
            pen.rect(STRAP, -0.085, 0.3, 0.085, 0.315, wf)
        else:
            for s in (-1, 1):
                pen.line(STRAP, s * 0.075, 0.165, s * 0.07, 0.4, 0.02, wf)
    _head(pen, a, view)
    if bag == 'handbag':
        u = side * (sh + 0.03)
        pen.poly(BAG, [(u - 0.045, 0.47), (u + 0.045, 0.47), (u + 0.055, 0.585),
                       (u - 0.055, 0.585)], wf)
        pen.line(STRAP, u - 0.03, 0.47, u, 0.44, 0.012, wf)
        pen.line(STRAP, u + 0.03, 0.47, u, 0.44, 0.012, wf)
    elif bag == 'shoulder bag':
        pen.line(STRAP, -side * (sh - 0.03), 0.165, side * (waist - 0.005), 0.44, 0.016, wf)
        u = side * (waist + 0.03)
        pen.poly(BAG, [(u - 0.06, 0.42), (u + 0.05, 0.42), (u + 0.05, 0.54), (u - 0.06, 0.54)],
                 wf)


def visible_luts(a: Dict) -> np.ndarray:
    """(NUM_MATERIALS, 3) float32 RGB colour of every material of identity ``a``."""
    lut = np.zeros((NUM_MATERIALS, 3), dtype=np.float32)
    tint = np.asarray(a['tint'], dtype=np.float32)
    skin = np.asarray(SKIN_TONES[a['skin_tone']], dtype=np.float32)
    lut[SKIN] = lut[ARM_SKIN] = lut[LEG_SKIN] = skin
    lut[EYE] = skin * 0.35
    lut[HAIR] = HAIR_COLOURS[a['hair_colour']]
    if a['hat'] is not None:
        lut[HAT] = COLOURS[a['hat']]
    lut[UPPER] = np.asarray(COLOURS[a['upper_colour']], np.float32) + tint
    if a['pattern_colour'] is not None:
        lut[UPPER2] = lut[LOGO] = np.asarray(COLOURS[a['pattern_colour']], np.float32) + tint
    lut[LOWER] = np.asarray(COLOURS[a['lower_colour']], np.float32) - tint
    lut[SHOE] = COLOURS[a['shoe_colour']]
    if a['bag_colour'] is not None:
        lut[BAG] = COLOURS[a['bag_colour']]
        lut[STRAP] = lut[BAG] * 0.8
    return np.clip(lut, 0, 255)
