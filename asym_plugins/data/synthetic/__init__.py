"""The embedded synthetic asymmetric world (``docs/datasets.md``, "The synthetic world").

Procedural people (attribute sets) rendered by several cameras with exact part masks, in five
scenarios: ``holistic`` (Market-like), ``occluded`` (Occluded-Duke-like), ``partial``
(Partial-REID-like), ``infrared`` (SYSU-MM01-like) and ``text`` (CUHK-PEDES-like captions).

Examples::
    >>> from asym_plugins.data.synthetic import SyntheticWorld
    >>> world = SyntheticWorld('infrared', seed=0, num_train_ids=5, num_test_ids=3)
    >>> rec = world.records('query')[0]
    >>> rec['modality'], world.render(rec)['img'].shape
    ('infrared', (128, 64, 3))
"""
from .body import MATERIAL_TO_PART, VIEWS, Placement, draw_person, visible_luts
from .captions import colour_words, describe, make_captions
from .dataset import SyntheticReIDDataset
from .identities import KEY_ATTRIBUTES, sample_identities, sample_identity
from .infrared import infrared_lut
from .occluders import OCCLUDER_KINDS, draw_occluder, sample_occluder
from .palette import COLOUR_WORDS, COLOURS, HAIR_COLOURS, PART_LABELS, PART_NAMES
from .presets import PRESETS
from .render import Renderer, crop_pixels, part_coverage, placement
from .scenes import camera_background, make_camera
from .world import SPLITS, SYSU_CAMERAS, WORLD_VERSION, SyntheticWorld

__all__ = [
    'SyntheticWorld', 'PRESETS', 'SyntheticReIDDataset', 'SPLITS', 'SYSU_CAMERAS',
    'WORLD_VERSION',
    # render helpers
    'Renderer', 'Placement', 'draw_person', 'draw_occluder', 'sample_occluder', 'placement',
    'crop_pixels', 'part_coverage', 'camera_background', 'make_camera', 'visible_luts',
    'infrared_lut', 'MATERIAL_TO_PART', 'VIEWS', 'OCCLUDER_KINDS',
    # identities and captions
    'sample_identity', 'sample_identities', 'KEY_ATTRIBUTES', 'make_captions', 'describe',
    'colour_words',
    # palette and labels
    'COLOURS', 'HAIR_COLOURS', 'COLOUR_WORDS', 'PART_NAMES', 'PART_LABELS',
]
