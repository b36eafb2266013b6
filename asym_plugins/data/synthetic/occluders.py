"""Occluders: objects and other people pasted in front of a person.

An occluder is a JSON-able spec (:func:`sample_occluder`) in the occluded person's units (``u``
from the body axis, ``v`` from the top of the head, in person heights; see :mod:`.body`), drawn
by :func:`draw_occluder` into its own material map with its own colour and infrared look-ups. The
renderer pastes it over the person and labels its pixels 6 in the part mask.
"""
from typing import Dict, List, Tuple

import numpy as np

from .body import NUM_MATERIALS, VIEWS, Placement, _Pen, draw_person, visible_luts
from .infrared import infrared_lut
from .palette import COLOURS

OCCLUDER_KINDS = ('car', 'box', 'bin', 'pole', 'tree', 'sign', 'person', 'wall')
_KIND_P = np.array([0.2, 0.15, 0.12, 0.08, 0.09, 0.1, 0.2, 0.06])
_CAR_COLOURS = ('white', 'black', 'grey', 'red', 'blue', 'beige')
# Object materials (1..4) of an occluder map.
_BODY, _DARK, _DETAIL, _SECOND = 1, 2, 3, 4


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(round(rng.uniform(lo, hi), 4))


def sample_occluder(rng: np.random.Generator, num_distractors: int) -> Dict:
    """Draw an occluder spec. ``num_distractors``: size of the world's pool of other people."""
    kind = OCCLUDER_KINDS[int(rng.choice(len(OCCLUDER_KINDS), p=_KIND_P / _KIND_P.sum()))]
    side = -1 if rng.random() < 0.5 else 1
    spec: Dict = dict(kind=kind, side=side)
    if kind == 'car':
        spec.update(top=_u(rng, 0.4, 0.72), colour=_CAR_COLOURS[int(rng.integers(6))],
                    shift=_u(rng, -0.3, 0.3))
    elif kind == 'box':
        u0 = _u(rng, -0.42, -0.12)
        spec.update(top=_u(rng, 0.42, 0.74), u0=u0, u1=round(u0 + rng.uniform(0.45, 0.8), 4),
                    stack=int(rng.integers(1, 3)))
    elif kind == 'bin':
        spec.update(top=_u(rng, 0.48, 0.72), uc=_u(rng, -0.1, 0.1), width=_u(rng, 0.24, 0.36),
                    colour=('green', 'grey', 'blue', 'black')[int(rng.integers(4))])
    elif kind == 'pole':
        spec.update(uc=_u(rng, -0.12, 0.12), width=_u(rng, 0.06, 0.13))
    elif kind == 'tree':
        spec.update(uc=_u(rng, -0.2, 0.2), width=_u(rng, 0.1, 0.2), crown_v=_u(rng, 0.0, 0.28),
                    crown_r=_u(rng, 0.18, 0.3))
    elif kind == 'sign':
        spec.update(edge=_u(rng, -0.06, 0.1), v0=_u(rng, 0.12, 0.36), v1=_u(rng, 0.6, 0.88),
                    colour=('white', 'yellow', 'blue', 'red', 'green')[int(rng.integers(5))])
    elif kind == 'person':
        spec.update(distractor=int(rng.integers(num_distractors)), du=_u(rng, 0.13, 0.3),
                    scale=_u(rng, 1.0, 1.12), dv=_u(rng, 0.0, 0.08),
                    view=VIEWS[int(rng.integers(3))], mirror=bool(rng.random() < 0.5))
    else:  # wall: a frame edge (door frame, pillar) covering one side
        spec.update(edge=_u(rng, -0.06, 0.1))
    return spec


def _object_luts(spec: Dict) -> Tuple[np.ndarray, np.ndarray]:
    rgb = np.zeros((NUM_MATERIALS, 3), np.float32)
    ir = np.zeros(NUM_MATERIALS, np.float32)
    kind = spec['kind']
    if kind == 'car':
        rgb[_BODY] = COLOURS[spec['colour']]
        rgb[_DARK] = (30, 34, 40)
        rgb[_DETAIL] = (70, 90, 110)
        ir[[_BODY, _DARK, _DETAIL]] = (0.22, 0.16, 0.3)
    elif kind == 'box':
        rgb[_BODY] = (176, 136, 88)
        rgb[_DETAIL] = (206, 188, 150)
        ir[[_BODY, _DETAIL]] = (0.34, 0.36)
    elif kind == 'bin':
        rgb[_BODY] = COLOURS[spec['colour']]
        rgb[_DARK] = np.asarray(COLOURS[spec['colour']]) * 0.6
        ir[[_BODY, _DARK]] = (0.28, 0.25)
    elif kind == 'pole':
        rgb[_BODY] = (110, 112, 116)
        rgb[_DETAIL] = (150, 152, 156)
        ir[[_BODY, _DETAIL]] = (0.24, 0.27)
    elif kind == 'tree':
        rgb[_BODY] = (92, 66, 44)
        rgb[_SECOND] = (56, 110, 48)
        rgb[_DETAIL] = (84, 140, 64)
        ir[[_BODY, _SECOND, _DETAIL]] = (0.32, 0.38, 0.4)
    elif kind == 'sign':
        rgb[_BODY] = COLOURS[spec['colour']]
        rgb[_DARK] = (90, 92, 96)
        rgb[_DETAIL] = (240, 240, 236) if spec['colour'] != 'white' else (40, 40, 40)
        ir[[_BODY, _DARK, _DETAIL]] = (0.3, 0.24, 0.31)
    elif kind == 'wall':
        rgb[_BODY] = (168, 160, 150)
        rgb[_DARK] = (130, 124, 116)
        ir[[_BODY, _DARK]] = (0.33, 0.3)
    return rgb, ir


def draw_occluder(spec: Dict, pl: Placement, shape: Tuple[int, int],
                  distractors: List[Dict]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw an occluder in front of the person placed at ``pl``.

    Returns:
        (material map uint8 HxW, 0 where there is no occluder; RGB look-up (16, 3) float32;
        infrared look-up (16,) float32).
    """
    H, W = shape
    mat = np.zeros((H, W), np.uint8)
    kind = spec['kind']
    if kind == 'person':
        other = distractors[spec['distractor']]
        h = pl.h * spec['scale'] * other['height_factor'] / 0.98
        opl = Placement(cx=pl.cx + spec['side'] * spec['du'] * pl.h,
                        ybottom=pl.ybottom + spec['dv'] * pl.h, h=h,
                        wf=other['width_factor'], mirror=spec['mirror'])
        draw_person(mat, other, spec['view'], opl)
        return mat, visible_luts(other), infrared_lut(other)

    # Objects: drawn in the occluded person's units; "far" = beyond the frame.
    pen = _Pen(mat, Placement(cx=pl.cx, ybottom=pl.ybottom, h=pl.h, mirror=spec['side'] < 0))
    far = 2.0
    bottom = 1.3
    if kind == 'car':
        t = spec['top']
        s = spec['shift']
        pen.poly(_BODY, [(-far, t + 0.1), (s - 0.3, t + 0.02), (s + 0.3, t),
                         (far, t + 0.06), (far, bottom), (-far, bottom)])
        pen.poly(_DETAIL, [(s - 0.24, t + 0.035), (s + 0.26, t + 0.02),
                           (s + 0.3, t + 0.1), (s - 0.3, t + 0.1)])
        pen.rect(_BODY, s - 0.02, t + 0.015, s + 0.02, t + 0.1)
        pen.rect(_DARK, -far, t + 0.24, far, t + 0.26)
        pen.ellipse(_DARK, s + 0.45, t + 0.42, 0.1, 0.1)
    elif kind == 'box':
        t, u0, u1 = spec['top'], spec['u0'], spec['u1']
        pen.rect(_BODY, u0, t, u1, bottom)
        pen.rect(_DETAIL, (u0 + u1) / 2 - 0.02, t, (u0 + u1) / 2 + 0.02, bottom)
        if spec['stack'] > 1:
            pen.rect(_DETAIL, u0, t + 0.2, u1, t + 0.21)
    elif kind == 'bin':
        t, uc, w = spec['top'], spec['uc'], spec['width'] / 2
        pen.poly(_BODY, [(uc - w, t + 0.03), (uc + w, t + 0.03), (uc + w * 0.9, bottom),
                         (uc - w * 0.9, bottom)])
        pen.rect(_DARK, uc - w * 1.08, t, uc + w * 1.08, t + 0.04)
    elif kind == 'pole':
        uc, w = spec['uc'], spec['width'] / 2
        pen.rect(_BODY, uc - w, -far, uc + w, bottom)
        pen.rect(_DETAIL, uc - w * 0.3, -far, uc + w * 0.1, bottom)
    elif kind == 'tree':
        uc, w = spec['uc'], spec['width'] / 2
        pen.poly(_BODY, [(uc - w * 0.8, -far), (uc + w * 0.8, -far), (uc + w * 1.2, bottom),
                         (uc - w * 1.2, bottom)])
        cv, r = spec['crown_v'], spec['crown_r']
        pen.ellipse(_SECOND, uc, cv - 0.1, r * 1.1, r)
        pen.ellipse(_DETAIL, uc - r * 0.4, cv - 0.15, r * 0.5, r * 0.45)
    elif kind == 'sign':
        e, v0, v1 = spec['edge'], spec['v0'], spec['v1']
        pen.rect(_DARK, -0.32, v1, -0.28, bottom)
        pen.rect(_BODY, -far, v0, e, v1)
        pen.rect(_DETAIL, -0.4, v0 + 0.06, e - 0.06, v0 + 0.1)
        pen.rect(_DETAIL, -0.4, v0 + 0.16, e - 0.1, v0 + 0.2)
    elif kind == 'wall':
        e = spec['edge']
        pen.rect(_BODY, -far, -far, e, bottom)
        pen.rect(_DARK, e - 0.03, -far, e, bottom)
    else:
        raise ValueError(f'draw_occluder: unknown kind {kind!r}; expected one of {OCCLUDER_KINDS}.')
    rgb, ir = _object_luts(spec)
    return mat, rgb, ir


def occluder_mask(spec: Dict, pl: Placement, shape: Tuple[int, int],
                  distractors: List[Dict]) -> np.ndarray:
    """Boolean HxW mask of the occluder's pixels."""
    return draw_occluder(spec, pl, shape, distractors)[0] > 0

