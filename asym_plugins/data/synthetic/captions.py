"""English captions of a synthetic image, generated from the identity's attributes.

Wording varies (templates, synonyms, word order), only what the view shows is described (a logo
only from the front; a backpack is certain from the back or side and only sometimes mentioned
from the front, where just its straps show), and some details are occasionally left out, as
human annotators do.

Examples::
    >>> from asym_plugins.data.synthetic.identities import sample_identity
    >>> a = sample_identity(np.random.default_rng(3))
    >>> caps = make_captions(a, 'front', np.random.default_rng(0))
    >>> len(caps), caps[0] != caps[1]
    (2, True)
"""
import re
from typing import Dict, List, Optional

import numpy as np

from .palette import COLOUR_WORDS

_INDEFINITE = {
    'man': ('A man', 'A young man', 'A guy', 'A male pedestrian'),
    'woman': ('A woman', 'A young woman', 'A lady', 'A girl', 'A female pedestrian'),
}
_SUBJECTS = {
    'man': _INDEFINITE['man'] + ('The man', 'This man', 'This gentleman'),
    'woman': _INDEFINITE['woman'] + ('The woman', 'This woman'),
}
_NOUN = {'man': ('man', 'guy', 'male'), 'woman': ('woman', 'lady', 'female')}
_PRON = {'man': ('he', 'his'), 'woman': ('she', 'her')}
_GARMENT_WORDS = {
    't-shirt': ('t-shirt', 'tee shirt', 'short-sleeved t-shirt'),
    'polo shirt': ('polo shirt', 'short-sleeved polo'),
    'top': ('top', 'short-sleeved top', 'blouse'),
    'shirt': ('shirt', 'long-sleeved shirt', 'button-up shirt'),
    'jacket': ('jacket', 'long-sleeved jacket', 'zip-up jacket'),
    'sweater': ('sweater', 'jumper', 'pullover'),
    'hoodie': ('hoodie', 'hooded sweatshirt'),
    'coat': ('coat', 'long coat', 'overcoat'),
}
_DIRECTION = {'front': ('towards the camera', 'forward'),
              'back': ('away from the camera', 'away'),
              'side': ('past the camera', 'sideways')}


def _choice(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _join(items: List[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ', '.join(items[:-1]) + ' and ' + items[-1]


def _article(word: str) -> str:
    return 'an' if word[0] in 'aeiou' else 'a'


def _upper(a: Dict, view: str, rng) -> str:
    c, c2 = a['upper_colour'], a['pattern_colour']
    g = _choice(rng, _GARMENT_WORDS[a['upper_garment']])
    p = a['upper_pattern']
    if p == 'stripes':
        text = _choice(rng, (f'{c} and {c2} striped {g}', f'{c} {g} with {c2} stripes',
                             f'striped {c} and {c2} {g}'))
    elif p == 'checks':
        text = _choice(rng, (f'{c} and {c2} checked {g}', f'{c} plaid {g}',
                             f'{c} {g} with a {c2} check pattern'))
    elif p == 'logo' and view == 'front':
        text = _choice(rng, (f'{c} {g} with a {c2} logo on the front',
                             f'{c} {g} with a {c2} print', f'{c} {g} that has a {c2} logo'))
    else:
        text = f'{c} {g}'
    return f'{_article(text)} {text}'


def _lower(a: Dict, rng) -> str:
    c, t = a['lower_colour'], a['lower_type']
    if t == 'trousers':
        words = ('trousers', 'pants', 'slacks') + (('jeans',) * 2 if c in ('blue', 'black')
                                                    else ())
        w = _choice(rng, words)
        return _choice(rng, (f'{c} {w}', f'a pair of {c} {w}', f'long {c} {w}'))
    if t == 'shorts':
        return _choice(rng, (f'{c} shorts', f'a pair of {c} shorts', f'short {c} pants'))
    return _choice(rng, (f'a {c} skirt', f'a knee-length {c} skirt', f'a {c} skirt'))


def _shoes(a: Dict, rng) -> str:
    c = a['shoe_colour']
    w = _choice(rng, ('shoes', 'sneakers', 'trainers', 'shoes'))
    return _choice(rng, (f'{c} {w}', f'a pair of {c} {w}'))


def _hair(a: Dict, rng) -> str:
    c, n = a['hair_colour'], a['hair_length']
    return _choice(rng, (f'{n} {c} hair', f'{c} hair', f'{n} hair'))


def _hat(a: Dict, rng) -> str:
    return f"a {a['hat']} {_choice(rng, ('cap', 'hat', 'baseball cap'))}"


def _bag(a: Dict, rng, poss: str) -> str:
    c = a['bag_colour']
    if a['bag'] == 'backpack':
        return _choice(rng, (f'a {c} backpack', f'a {c} rucksack', f'a {c} backpack'))
    if a['bag'] == 'handbag':
        return _choice(rng, (f'a {c} handbag', f'a {c} purse', f'a small {c} handbag'))
    return _choice(rng, (f'a {c} shoulder bag', f'a {c} bag over {poss} shoulder',
                         f'a {c} messenger bag'))


def describe(a: Dict, view: str, rng: np.random.Generator, omit_prob: float = 0.15,
             template: Optional[int] = None) -> str:
    """One caption of identity ``a`` seen from ``view``."""
    gender = a['gender']
    pron, poss = _PRON[gender]
    upper = _upper(a, view, rng)
    lower = _lower(a, rng)
    shoes = _shoes(a, rng) if rng.random() > omit_prob * 1.5 else None
    hat = _hat(a, rng) if a['hat'] is not None and rng.random() > omit_prob else None
    hair = _hair(a, rng) if rng.random() < 0.6 and hat is None else None
    bag = None
    if a['bag'] != 'none':
        seen = view != 'front' or a['bag'] != 'backpack' or rng.random() < 0.5
        if seen and rng.random() > omit_prob:
            bag = _bag(a, rng, poss)
    # Occasionally a garment is left out too (never both).
    r = rng.random()
    if r < omit_prob / 2:
        upper = None
    elif r < omit_prob:
        lower = None
    clothes = [x for x in (upper, lower, shoes) if x]
    if rng.random() < 0.3 and len(clothes) > 1:   # word order varies
        clothes[0], clothes[1] = clothes[1], clothes[0]
    if hat:
        clothes.insert(int(rng.integers(len(clothes) + 1)), hat)
    subj = _choice(rng, _SUBJECTS[gender])
    noun = _choice(rng, _NOUN[gender])
    P = pron.capitalize()
    direction = _choice(rng, _DIRECTION[view])
    t = int(rng.integers(7)) if template is None else template
    if t == 0:   # a noun phrase, as many annotators write: needs an indefinite subject
        s = f"{_choice(rng, _INDEFINITE[gender])} wearing {_join(clothes)}"
        s += f', carrying {bag}.' if bag else '.'
        if hair:
            s += f' {P} has {hair}.'
    elif t == 1:
        s = f'{subj} has on {_join(clothes)}.'
        extra = ([f'has {hair}'] if hair else []) + ([f'is carrying {bag}'] if bag else [])
        if extra:
            s += f' {P} {_join(extra)}.'
    elif t == 2:
        s = f'The {noun} is dressed in {_join(clothes)}.'
        if bag:
            s += f' {P} carries {bag}.'
        if hair:
            s += f' {P} has {hair}.'
    elif t == 3:
        s = f'{subj} is walking {direction}. {P} is wearing {_join(clothes)}'
        s += f' and is carrying {bag}.' if bag else '.'
    elif t == 4:
        who = f'{subj} with {hair}' if hair else subj
        s = f'{who} wears {_join(clothes)}'
        s += f' and has {bag}.' if bag else '.'
    elif t == 5:
        s = f'Wearing {_join(clothes)}, this {noun} walks {direction}'
        s += f' with {bag}.' if bag else '.'
        if hair:
            s += f' {P} has {hair}.'
    else:
        if bag:
            s = f'{subj} carrying {bag} is wearing {_join(clothes)}.'
        else:
            s = f'{subj} in {_join(clothes)} walks {direction}.'
        if hair:
            s += f' {P} has {hair}.'
    return s


def make_captions(a: Dict, view: str, rng: np.random.Generator, num: int = 2,
                  omit_prob: float = 0.15) -> List[str]:
    """``num`` distinct captions (different templates) of identity ``a`` seen from ``view``."""
    templates = rng.permutation(7)
    caps: List[str] = []
    for i in range(num):
        cap = describe(a, view, rng, omit_prob, template=int(templates[i % 7]))
        tries = 0
        while cap in caps and tries < 10:
            cap = describe(a, view, rng, omit_prob)
            tries += 1
        caps.append(cap)
    return caps


def colour_words(text: str) -> set:
    """The colour names a caption uses (words of :data:`COLOUR_WORDS`)."""
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w in COLOUR_WORDS}
