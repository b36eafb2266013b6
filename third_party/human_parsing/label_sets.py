"""Human-parsing label sets (ATR, LIP, Pascal-Person-Part) -> asym-reid part-label ids.

The class lists are the datasets' published label definitions (the order a parser trained on
them, e.g. an SCHP checkpoint, outputs). Each maps to the package's part-label ids
(CONTRACTS.md): 0 background, 1 head, 2 upper body, 3 lower body, 4 shoes, 5 bag/accessory,
6 occluder. A model with K parts then groups these ids into K columns (``part_label_map``).

Choices where a class spans two of our parts [ours]: dresses and jumpsuits count as upper body
(their torso share dominates in pedestrian crops); gloves and arms as upper body; socks as lower
body. Pascal-Person-Part has no feet class: its *lower legs* (shins and feet) take the shoes id,
so a 4-part model still gets head / torso+arms / thighs / shins+feet.

Examples::
    >>> label_set_lut('pascal_person_part')
    (0, 1, 2, 2, 2, 3, 4)
"""
from typing import Dict, Sequence, Tuple, Union

ASYM_PART_NAMES = ('background', 'head', 'upper_body', 'lower_body', 'shoes', 'bag', 'occluder')
_ASYM = {name: i for i, name in enumerate(ASYM_PART_NAMES)}

#: name -> (class names in the parser's output order, our part name for each class)
LABEL_SETS: Dict[str, Tuple[Tuple[str, str], ...]] = {
    # LIP (Gong et al. 2017), 20 classes.
    'lip': (
        ('Background', 'background'), ('Hat', 'head'), ('Hair', 'head'), ('Glove', 'upper_body'),
        ('Sunglasses', 'head'), ('Upper-clothes', 'upper_body'), ('Dress', 'upper_body'),
        ('Coat', 'upper_body'), ('Socks', 'lower_body'), ('Pants', 'lower_body'),
        ('Jumpsuits', 'upper_body'), ('Scarf', 'upper_body'), ('Skirt', 'lower_body'),
        ('Face', 'head'), ('Left-arm', 'upper_body'), ('Right-arm', 'upper_body'),
        ('Left-leg', 'lower_body'), ('Right-leg', 'lower_body'), ('Left-shoe', 'shoes'),
        ('Right-shoe', 'shoes')),
    # ATR (Liang et al. 2015), 18 classes.
    'atr': (
        ('Background', 'background'), ('Hat', 'head'), ('Hair', 'head'),
        ('Sunglasses', 'head'), ('Upper-clothes', 'upper_body'), ('Skirt', 'lower_body'),
        ('Pants', 'lower_body'), ('Dress', 'upper_body'), ('Belt', 'upper_body'),
        ('Left-shoe', 'shoes'), ('Right-shoe', 'shoes'), ('Face', 'head'),
        ('Left-leg', 'lower_body'), ('Right-leg', 'lower_body'), ('Left-arm', 'upper_body'),
        ('Right-arm', 'upper_body'), ('Bag', 'bag'), ('Scarf', 'upper_body')),
    # Pascal-Person-Part (Chen et al. 2014), 7 classes.
    'pascal_person_part': (
        ('Background', 'background'), ('Head', 'head'), ('Torso', 'upper_body'),
        ('Upper Arms', 'upper_body'), ('Lower Arms', 'upper_body'), ('Upper Legs', 'lower_body'),
        ('Lower Legs', 'shoes')),
    # The package's own ids (masks already in our label space).
    'asym': tuple((n, n) for n in ASYM_PART_NAMES),
}
_ALIASES = {'pascal': 'pascal_person_part', 'pascal-person-part': 'pascal_person_part',
            'ppp': 'pascal_person_part', 'synthetic': 'asym', 'identity': 'asym'}


def label_set_lut(label_set: Union[str, Sequence[int], Dict[int, int]]) -> Tuple[int, ...]:
    """Look-up table parser class id -> our part-label id.

    ``label_set``: a name of :data:`LABEL_SETS` (or an alias: ``'pascal'``, ``'synthetic'``),
    a sequence (entry c = our id of class c) or a dict {class id: our id} (missing ids ->
    background).
    """
    if isinstance(label_set, str):
        name = _ALIASES.get(label_set.lower(), label_set.lower())
        if name not in LABEL_SETS:
            raise ValueError(f'Unknown parser label set {label_set!r}; choose one of '
                             f'{sorted(LABEL_SETS)} or give a list / dict of class -> part id '
                             f'(ids: {dict(_ASYM)}).')
        return tuple(_ASYM[part] for _, part in LABEL_SETS[name])
    if isinstance(label_set, dict):
        size = max(int(k) for k in label_set) + 1 if label_set else 1
        lut = [0] * size
        for k, v in label_set.items():
            lut[int(k)] = int(v)
        return tuple(lut)
    lut = tuple(int(v) for v in label_set)
    bad = [v for v in lut if not 0 <= v < len(ASYM_PART_NAMES)]
    if bad:
        raise ValueError(f'label set values must be part ids 0..{len(ASYM_PART_NAMES) - 1}, '
                         f'got {bad}.')
    return lut
