"""Scenario presets of the synthetic world and their default sizes.

Sizes are chosen so a baseline and a method can each be trained and evaluated on a CPU in
minutes (about 100 training identities x 8-16 images, 50-60 test identities, a few hundred query
and gallery images), while leaving room for a method's effect to show.

Keys (every one can be overridden through ``SyntheticWorld(**overrides)``):

* ``num_train_ids`` / ``num_test_ids``: disjoint identity sets (train pids first, from 1).
* ``cameras``: ``'market'`` (``num_cams`` visible cameras, indoor and outdoor alternating) or
  ``'sysu'`` (SYSU-MM01's six: cams 1, 2 visible indoor, 3 infrared indoor, 4, 5 visible
  outdoor, 6 infrared outdoor; stored 0-based).
* ``train_imgs_per_id`` / ``gallery_imgs_per_id`` / ``query_imgs_per_id``: ``int`` or
  ``(low, high)`` inclusive. In ``'sysu'`` the train and query counts are per modality
  (``train_ir_imgs_per_id`` for the infrared half of training).
* ``cams_per_id``: ``(low, high)`` number of cameras an identity walks past.
* ``query_type``: ``'holistic'`` | ``'occluded'`` | ``'partial'`` | ``'infrared'`` | ``'text'``.
* ``train_occluded_ratio``: share of training images with an occluder (Occluded-Duke has some).
* ``occluded_fraction``: ``(low, high)`` share of the body's pixels an occluder must hide.
* ``partial_regions``: region name -> probability of a partial query's crop.
* ``captions``: give every record ``captions``; ``num_captions``; ``caption_omit_prob``.
* ``view_consistency``: probability that an image shows the view of its (identity, camera)
  track (people walk one way past a camera).
* ``min_id_distance``: key attributes in which any two identities differ (see identities.py).
* ``num_distractors``: other people used as occluders (never in any split).
"""
import copy
from typing import Dict

_COMMON = dict(
    num_train_ids=100,
    num_test_ids=60,
    cameras='market',
    num_cams=6,
    train_imgs_per_id=(8, 16),
    train_ir_imgs_per_id=(4, 8),
    gallery_imgs_per_id=(4, 8),
    query_imgs_per_id=2,
    cams_per_id=(2, 4),
    query_type='holistic',
    train_occluded_ratio=0.0,
    occluded_fraction=(0.2, 0.7),
    partial_regions={'upper_half': 0.3, 'upper_two_thirds': 0.3,
                     'upper_three_quarters': 0.16, 'left_side': 0.12, 'right_side': 0.12},
    captions=False,
    num_captions=2,
    caption_omit_prob=0.15,
    view_consistency=0.75,
    min_id_distance=2,
    num_distractors=40,
)

PRESETS: Dict[str, Dict] = {
    # Market-1501-like: holistic queries and gallery, 6 visible cameras.
    'holistic': dict(_COMMON),
    # Occluded-Duke-like: occluded queries, holistic gallery, 8 cameras, some occluded training.
    'occluded': dict(_COMMON, num_cams=8, query_imgs_per_id=3, query_type='occluded',
                     train_occluded_ratio=0.12),
    # Partial-REID-like: 5 partial crops and 5 holistic gallery images per test identity.
    'partial': dict(_COMMON, query_imgs_per_id=5, gallery_imgs_per_id=5,
                    query_type='partial'),
    # SYSU-MM01-like: infrared queries (cams 3, 6), visible gallery (cams 1, 2, 4, 5).
    'infrared': dict(_COMMON, num_test_ids=50, cameras='sysu', num_cams=6,
                     train_imgs_per_id=(6, 10), train_ir_imgs_per_id=(4, 8),
                     gallery_imgs_per_id=(6, 10), query_imgs_per_id=(4, 8),
                     query_type='infrared'),
    # CUHK-PEDES-like: two captions per image; query = the test images' captions.
    'text': dict(_COMMON, train_imgs_per_id=(4, 8), gallery_imgs_per_id=4,
                 query_type='text', captions=True),
}


def preset_config(name: str) -> Dict:
    """A deep copy of preset ``name``'s configuration."""
    if name not in PRESETS:
        raise ValueError(f'SyntheticWorld: unknown preset {name!r}; expected one of '
                         f'{sorted(PRESETS)}.')
    return copy.deepcopy(PRESETS[name])
