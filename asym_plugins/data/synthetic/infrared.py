"""Infrared rendering: intensity from body heat and material, never from colour.

Skin is the warmest surface; a garment is warmer the thinner it is (body heat passes through);
hair, shoes and bags are cool, and a bag's intensity follows its material. Patterns and logos are
dye, so they vanish. What survives for matching is shape: build, height, sleeve length, lower-body
type (bare legs glow), hair length, hat, bag type, and garment thickness.
"""
from typing import Dict

import numpy as np

from .body import (ARM_SKIN, BAG, EYE, HAIR, HAT, LEG_SKIN, LOGO, LOWER, NUM_MATERIALS, SHOE,
                   SKIN, STRAP, UPPER, UPPER2)

BAG_MATERIAL_HEAT = {'leather': 0.2, 'nylon': 0.3, 'canvas': 0.26}


def infrared_lut(a: Dict) -> np.ndarray:
    """(NUM_MATERIALS,) float32 intensity (0..1) of every material of identity ``a``."""
    lut = np.zeros(NUM_MATERIALS, dtype=np.float32)
    body = 0.9 + a['body_temperature']
    lut[SKIN] = lut[ARM_SKIN] = lut[LEG_SKIN] = body
    lut[EYE] = body - 0.12
    lut[HAIR] = 0.42 if a['hair_length'] == 'short' else 0.34
    lut[HAT] = 0.3
    upper = body - 0.15 - 0.45 * a['upper_thickness']
    lut[UPPER] = lut[UPPER2] = lut[LOGO] = upper
    lut[LOWER] = body - 0.2 - 0.4 * a['lower_thickness']
    lut[SHOE] = 0.22
    if a['bag'] != 'none':
        lut[BAG] = BAG_MATERIAL_HEAT[a['bag_material']]
        lut[STRAP] = lut[BAG] + 0.05
    return lut


def infrared_response(gray: np.ndarray, gain: float, gamma: float) -> np.ndarray:
    """The infrared camera's own contrast curve on a 0..1 float image (in place when possible)."""
    np.clip(gray, 0.0, 1.0, out=gray)
    if abs(gamma - 1.0) > 1e-3:
        np.power(gray, gamma, out=gray)
    gray *= gain
    return gray
