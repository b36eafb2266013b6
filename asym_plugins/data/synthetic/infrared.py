"""Infrared rendering: near-infrared (NIR) reflectance, as SYSU-MM01's cameras 3 and 6 record.

An NIR camera with active illumination sees how strongly each material reflects near-infrared
light, not its colour. A dye's NIR reflectance is only loosely tied to its visible brightness, so
each named colour gets a fixed reflectance: 55 % its visible luminance, 45 % a colour-specific
term that the visible image does not show (:func:`nir_reflectance`). The model must learn this
colour -> intensity mapping across modalities; colours of similar reflectance become
indistinguishable. Skin reflects NIR strongly (a little per identity), hair and shoes weakly.
Patterns and logos survive with the reflectance contrast of their two dyes (at least
``MIN_PATTERN_CONTRAST``), as stripes and prints often do in real NIR footage. Shape cues (build,
height, sleeve length, bare legs, hair length, hat, bag type) are unchanged.
"""
import zlib
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from .body import (ARM_SKIN, BAG, EYE, HAIR, HAT, LEG_SKIN, LOGO, LOWER, NUM_MATERIALS, SHOE,
                   SKIN, STRAP, UPPER, UPPER2)
from .palette import COLOURS, HAIR_COLOURS, luminance

MIN_PATTERN_CONTRAST = 0.12


def nir_reflectance(name: str, palette: Mapping[str, Sequence[int]] = COLOURS) -> float:
    """NIR reflectance (0..1) of the dye called ``name``: fixed per colour, the same in every run.

    Examples::
        >>> round(nir_reflectance('white'), 3) > round(nir_reflectance('black'), 3)
        True
    """
    hidden = (zlib.crc32(name.encode()) % 1000) / 999.0
    return float(0.1 + 0.8 * (0.55 * luminance(palette[name]) / 255.0 + 0.45 * hidden))


def _pattern(base: float, other: Optional[str]) -> float:
    value = nir_reflectance(other)
    if abs(value - base) < MIN_PATTERN_CONTRAST:
        value = base + MIN_PATTERN_CONTRAST if base < 0.5 else base - MIN_PATTERN_CONTRAST
    return value


def infrared_lut(a: Dict) -> np.ndarray:
    """(NUM_MATERIALS,) float32 NIR intensity (0..1) of every material of identity ``a``."""
    lut = np.zeros(NUM_MATERIALS, dtype=np.float32)
    skin = 0.78 + 2.0 * a['body_temperature']        # +-0.08 between people
    lut[SKIN] = lut[ARM_SKIN] = lut[LEG_SKIN] = skin
    lut[EYE] = skin - 0.3
    lut[HAIR] = 0.08 + 0.6 * nir_reflectance(a['hair_colour'], HAIR_COLOURS)
    if a['hat'] is not None:
        lut[HAT] = nir_reflectance(a['hat'])
    upper = nir_reflectance(a['upper_colour'])
    lut[UPPER] = upper
    if a['pattern_colour'] is not None:
        lut[UPPER2] = lut[LOGO] = _pattern(upper, a['pattern_colour'])
    # Thick garments are a little rougher and darker in NIR (a weak, hidden cue).
    lut[LOWER] = nir_reflectance(a['lower_colour']) - 0.08 * (a['lower_thickness'] - 0.5)
    lut[SHOE] = 0.8 * nir_reflectance(a['shoe_colour'])
    if a['bag_colour'] is not None:
        lut[BAG] = nir_reflectance(a['bag_colour'])
        lut[STRAP] = 0.85 * lut[BAG]
    return np.clip(lut, 0.02, 1.0)


def infrared_response(gray: np.ndarray, gain: float, gamma: float) -> np.ndarray:
    """The infrared camera's own contrast curve on a 0..1 float image (in place when possible)."""
    np.clip(gray, 0.0, 1.0, out=gray)
    if abs(gamma - 1.0) > 1e-3:
        np.power(gray, gamma, out=gray)
    gray *= gain
    return gray
