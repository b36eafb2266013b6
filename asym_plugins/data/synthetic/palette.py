"""Named colours of the synthetic world, and the part labels of its masks.

Every colour an identity can wear has an English name, so captions can say it and tests can check
that a caption names the colours the picture shows. Hair has its own small palette (``blonde``
is a hair word, not a clothes word).
"""
from typing import Dict, Tuple

# Clothes / bags / shoes / hats. RGB, 0..255.
COLOURS: Dict[str, Tuple[int, int, int]] = {
    'black': (28, 28, 32),
    'white': (232, 232, 226),
    'grey': (128, 128, 130),
    'red': (196, 34, 38),
    'blue': (38, 72, 186),
    'green': (42, 136, 62),
    'yellow': (232, 204, 46),
    'orange': (236, 124, 34),
    'purple': (118, 52, 148),
    'pink': (238, 148, 182),
    'brown': (112, 74, 42),
    'beige': (212, 192, 150),
}

# Relative frequencies (dark and blue clothes are the most common, as in street footage), so
# several identities share every single colour and Re-ID needs the combination.
UPPER_COLOUR_WEIGHTS = dict(black=3.0, white=2.2, grey=2.0, red=1.2, blue=2.4, green=1.0,
                            yellow=0.7, orange=0.6, purple=0.7, pink=0.8, brown=0.8, beige=0.9)
LOWER_COLOUR_WEIGHTS = dict(black=3.2, white=0.6, grey=2.0, red=0.4, blue=3.0, green=0.5,
                            yellow=0.2, orange=0.2, purple=0.3, pink=0.4, brown=1.2, beige=1.3)
SHOE_COLOUR_WEIGHTS = dict(black=3.0, white=2.6, grey=1.0, red=0.5, blue=0.6, brown=1.4,
                           beige=0.4, green=0.2, pink=0.2)
BAG_COLOUR_WEIGHTS = dict(black=3.0, brown=1.6, grey=1.2, blue=1.0, red=0.8, pink=0.6,
                          beige=0.8, green=0.6, white=0.5, purple=0.4, yellow=0.3, orange=0.3)
HAT_COLOUR_WEIGHTS = dict(black=2.0, white=1.2, grey=1.0, red=1.0, blue=1.4, green=0.6,
                          yellow=0.5, beige=0.8, brown=0.6, pink=0.4)

HAIR_COLOURS: Dict[str, Tuple[int, int, int]] = {
    'black': (22, 20, 20),
    'brown': (84, 52, 30),
    'blonde': (214, 180, 110),
    'grey': (160, 158, 154),
    'red': (150, 58, 28),
}
HAIR_COLOUR_WEIGHTS = dict(black=4.5, brown=3.0, blonde=1.2, grey=0.8, red=0.5)

SKIN_TONES = ((238, 200, 170), (222, 178, 140), (190, 140, 100), (150, 100, 66), (102, 68, 46))

# Every word a caption may use to name a colour (clothes palette plus hair words).
COLOUR_WORDS = frozenset(COLOURS) | frozenset(HAIR_COLOURS)

# Part labels of every mask (docs/CONTRACTS.md).
PART_NAMES = ('background', 'head', 'upper_body', 'lower_body', 'shoes', 'bag', 'occluder')
PART_LABELS = {name: i for i, name in enumerate(PART_NAMES)}


def luminance(rgb) -> float:
    """Rec. 601 luma of an RGB triple, 0..255."""
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b
