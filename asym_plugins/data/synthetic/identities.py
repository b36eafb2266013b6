"""Identities of the synthetic world: a person is a set of attributes.

An identity is a plain dict (JSON-serialisable) of visible attributes (gender, hair, hat, upper and
lower clothing with colour, pattern and type, shoes, bag, build) plus the hidden material
properties (garment thickness, bag material, body temperature; the near-infrared look-up uses
lower-garment thickness and body temperature as weak cues).
Colours are drawn from skewed frequencies so that many identities share any single attribute;
:func:`sample_identities` only guarantees that two identities differ in at least
``min_distance`` of the :data:`KEY_ATTRIBUTES`, so a model must learn combinations.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

from .palette import (BAG_COLOUR_WEIGHTS, COLOURS, HAIR_COLOUR_WEIGHTS, HAT_COLOUR_WEIGHTS,
                      LOWER_COLOUR_WEIGHTS, SHOE_COLOUR_WEIGHTS, SKIN_TONES,
                      UPPER_COLOUR_WEIGHTS, luminance)

UPPER_PATTERNS = ('plain', 'stripes', 'checks', 'logo')
LOWER_TYPES = ('trousers', 'shorts', 'skirt')
BAG_TYPES = ('none', 'backpack', 'handbag', 'shoulder bag')
SHORT_SLEEVE_GARMENTS = ('t-shirt', 'polo shirt', 'top')
LONG_SLEEVE_GARMENTS = ('shirt', 'jacket', 'sweater', 'hoodie', 'coat')
# Thickness of a garment (0 thin .. 1 thick): a weak hidden cue of the NIR rendering.
GARMENT_THICKNESS = {'t-shirt': 0.15, 'polo shirt': 0.25, 'top': 0.12, 'shirt': 0.35,
                     'jacket': 0.8, 'sweater': 0.7, 'hoodie': 0.65, 'coat': 0.95,
                     'trousers': 0.5, 'shorts': 0.35, 'skirt': 0.3}
BAG_MATERIALS = ('leather', 'nylon', 'canvas')

# The attributes that decide whether two identities look alike.
KEY_ATTRIBUTES = ('gender', 'hair_colour', 'hair_length', 'hat', 'upper_colour',
                  'upper_pattern', 'pattern_colour', 'sleeve', 'lower_colour', 'lower_type',
                  'shoe_colour', 'bag', 'bag_colour')


def _pick(rng: np.random.Generator, weights: Dict[str, float],
          exclude: Sequence[str] = ()) -> str:
    names = [k for k in weights if k not in exclude]
    p = np.array([weights[k] for k in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def sample_identity(rng: np.random.Generator) -> Dict:
    """Draw one identity's attributes.

    Examples::
        >>> a = sample_identity(np.random.default_rng(0))
        >>> sorted(a)[:3]
        ['bag', 'bag_colour', 'bag_material']
    """
    gender = 'woman' if rng.random() < 0.5 else 'man'
    woman = gender == 'woman'
    hair_length = 'long' if rng.random() < (0.75 if woman else 0.08) else 'short'
    hair_colour = _pick(rng, HAIR_COLOUR_WEIGHTS)
    hat = _pick(rng, HAT_COLOUR_WEIGHTS) if rng.random() < 0.2 else None

    sleeve = 'short' if rng.random() < 0.45 else 'long'
    garments = SHORT_SLEEVE_GARMENTS if sleeve == 'short' else LONG_SLEEVE_GARMENTS
    upper_garment = garments[int(rng.integers(len(garments)))]
    upper_colour = _pick(rng, UPPER_COLOUR_WEIGHTS)
    upper_pattern = UPPER_PATTERNS[int(rng.choice(4, p=[0.5, 0.18, 0.14, 0.18]))]
    pattern_colour = None
    if upper_pattern != 'plain':
        # A second colour that stands out from the first (patterns must be visible).
        base = luminance(COLOURS[upper_colour])
        cands = {k: w for k, w in UPPER_COLOUR_WEIGHTS.items()
                 if k != upper_colour and abs(luminance(COLOURS[k]) - base) > 45}
        pattern_colour = _pick(rng, cands)

    p_lower = [0.5, 0.15, 0.35] if woman else [0.8, 0.2, 0.0]
    lower_type = LOWER_TYPES[int(rng.choice(3, p=p_lower))]
    lower_colour = _pick(rng, LOWER_COLOUR_WEIGHTS)
    shoe_colour = _pick(rng, SHOE_COLOUR_WEIGHTS)
    p_bag = [0.3, 0.28, 0.22, 0.2] if woman else [0.4, 0.35, 0.05, 0.2]
    bag = BAG_TYPES[int(rng.choice(4, p=p_bag))]
    bag_colour = _pick(rng, BAG_COLOUR_WEIGHTS) if bag != 'none' else None

    build = ('slim', 'average', 'heavy')[int(rng.choice(3, p=[0.3, 0.5, 0.2]))]
    height = ('short', 'average', 'tall')[int(rng.choice(3, p=[0.25, 0.5, 0.25]))]
    width_factor = {'slim': 0.88, 'average': 1.0, 'heavy': 1.15}[build]
    height_factor = {'short': 0.93, 'average': 0.98, 'tall': 1.03}[height]
    if woman:
        height_factor -= 0.02
    return dict(
        gender=gender,
        skin_tone=int(rng.integers(len(SKIN_TONES))),
        hair_colour=hair_colour,
        hair_length=hair_length,
        hat=hat,
        upper_garment=upper_garment,
        upper_colour=upper_colour,
        upper_pattern=upper_pattern,
        pattern_colour=pattern_colour,
        sleeve=sleeve,
        lower_type=lower_type,
        lower_colour=lower_colour,
        shoe_colour=shoe_colour,
        bag=bag,
        bag_colour=bag_colour,
        bag_material=BAG_MATERIALS[int(rng.integers(3))] if bag != 'none' else None,
        build=build,
        height=height,
        width_factor=float(width_factor + rng.uniform(-0.03, 0.03)),
        height_factor=float(height_factor + rng.uniform(-0.01, 0.01)),
        # Hidden properties (infrared rendering and colour jitter).
        upper_thickness=float(np.clip(GARMENT_THICKNESS[upper_garment]
                                      + rng.uniform(-0.08, 0.08), 0, 1)),
        lower_thickness=float(np.clip(GARMENT_THICKNESS[lower_type]
                                      + rng.uniform(-0.1, 0.1), 0, 1)),
        body_temperature=float(rng.uniform(-0.04, 0.04)),
        tint=[int(v) for v in rng.integers(-14, 15, size=3)],
    )


def attribute_distance(a: Dict, b: Dict) -> int:
    """Number of :data:`KEY_ATTRIBUTES` on which two identities differ."""
    return sum(a[k] != b[k] for k in KEY_ATTRIBUTES)


def sample_identities(rng: np.random.Generator, num: int, min_distance: int = 2,
                      avoid: Optional[List[Dict]] = None, max_tries: int = 200) -> List[Dict]:
    """Draw ``num`` identities, each at least ``min_distance`` key attributes away from the
    others and from ``avoid``.

    Raises:
        RuntimeError: when the attribute space is too crowded for ``min_distance``.
    """
    out: List[Dict] = []
    others = list(avoid or [])
    for _ in range(num):
        for _try in range(max_tries):
            cand = sample_identity(rng)
            if all(attribute_distance(cand, o) >= min_distance for o in others):
                break
        else:
            raise RuntimeError(f'sample_identities: could not draw {num} identities at '
                               f'min_distance={min_distance}; lower it or use fewer identities.')
        out.append(cand)
        others.append(cand)
    return out
