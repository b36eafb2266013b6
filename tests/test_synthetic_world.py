"""The synthetic world: determinism, masks, occluders, partial crops, infrared, captions,
splits, and the MMEngine dataset on top of it."""
import pickle

import numpy as np
import pytest

from asym_plugins.data.synthetic import (
    COLOUR_WORDS,
    PART_LABELS,
    PRESETS,
    SyntheticReIDDataset,
    SyntheticWorld,
    colour_words,
)

SMALL = dict(num_train_ids=8, num_test_ids=6)
HEAD, UPPER, LOWER, SHOES, BAG, OCC = (PART_LABELS[k] for k in (
    'head', 'upper_body', 'lower_body', 'shoes', 'bag', 'occluder'))


@pytest.fixture(scope='module')
def worlds():
    return {p: SyntheticWorld(p, seed=0, **SMALL) for p in PRESETS}


def _pids(recs):
    return {r['pid'] for r in recs}


# -- determinism ------------------------------------------------------------------------
def test_same_seed_same_records_and_pixels(worlds):
    other = SyntheticWorld('occluded', seed=0, **SMALL)
    a, b = worlds['occluded'].records('query'), other.records('query')
    assert a == b
    for ra, rb in zip(a[:4], b[:4]):
        oa, ob = worlds['occluded'].render(ra), other.render(rb)
        assert oa['img'].dtype == np.uint8 and oa['mask'].dtype == np.uint8
        np.testing.assert_array_equal(oa['img'], ob['img'])
        np.testing.assert_array_equal(oa['mask'], ob['mask'])


def test_render_is_a_function_of_the_record(worlds):
    w = worlds['holistic']
    recs = w.records('train')
    first = w.render(recs[0])['img']
    for r in recs[1:5]:
        w.render(r)
    np.testing.assert_array_equal(first, w.render(recs[0])['img'])
    # records() hands out copies: mutating one does not change the world.
    recs[0]['pid'] = 999
    assert w.records('train')[0]['pid'] != 999


def test_different_seed_differs(worlds):
    other = SyntheticWorld('holistic', seed=1, **SMALL)
    r0, r1 = worlds['holistic'].records('train')[0], other.records('train')[0]
    assert r0 != r1
    assert not np.array_equal(worlds['holistic'].render(r0)['img'], other.render(r1)['img'])
    assert worlds['holistic'].attributes(1) != other.attributes(1)


def test_bad_arguments():
    with pytest.raises(ValueError, match='unknown preset'):
        SyntheticWorld('market')
    with pytest.raises(TypeError, match='unknown setting'):
        SyntheticWorld('holistic', num_cameras=3)
    with pytest.raises(ValueError, match='split'):
        SyntheticWorld('holistic', **SMALL).records('test')
    with pytest.raises(KeyError):
        SyntheticWorld('holistic', **SMALL).attributes(10_000)


# -- masks ------------------------------------------------------------------------------
def test_part_order_top_to_bottom(worlds):
    w = worlds['holistic']
    recs = w.records('train')[:24]
    seen_views = set()
    for rec in recs:
        mask = w.render(rec)['mask']
        assert set(np.unique(mask)) <= {0, HEAD, UPPER, LOWER, SHOES, BAG}
        rows = {}
        for k in (HEAD, UPPER, LOWER, SHOES):
            ys = np.nonzero(mask == k)[0]
            assert len(ys) > 0, (rec['view'], k)
            rows[k] = ys.mean()
        assert rows[HEAD] < rows[UPPER] < rows[LOWER] < rows[SHOES], rec['view']
        seen_views.add(rec['view'])
        bag = w.attributes(rec['pid'])['bag']
        assert ((mask == BAG).any()) == (bag != 'none')
    assert seen_views == {'front', 'back', 'side'}


def test_image_size_follows_img_size():
    w = SyntheticWorld('partial', seed=0, img_size=(256, 128), **SMALL)
    rec = w.records('query')[0]
    out = w.render(rec)
    assert out['img'].shape == (256, 128, 3) and out['mask'].shape == (256, 128)
    x0, y0, x1, y1 = rec['visible_box']
    assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 256


# -- occluded ---------------------------------------------------------------------------
def test_occluder_label_only_in_occluded_records(worlds):
    w = worlds['occluded']
    queries = w.records('query')
    assert queries and all(q['occluder'] for q in queries)
    for rec in queries[:8] + w.records('gallery')[:8]:
        has_occ = bool((w.render(rec)['mask'] == OCC).any())
        assert has_occ == bool(rec['occluder']), rec['split']
    for p in ('holistic', 'partial', 'infrared', 'text'):
        for rec in worlds[p].records('query')[:3]:
            assert not (worlds[p].render(rec)['mask'] == OCC).any()
    train = SyntheticWorld('occluded', seed=0, num_train_ids=30, num_test_ids=2).records('train')
    share = np.mean([bool(r['occluder']) for r in train])
    assert 0.03 < share < 0.3   # Occluded-Duke-like: some occluded training images


def test_recorded_hidden_parts_are_covered(worlds):
    w = worlds['occluded']
    n_hidden = 0
    for rec in w.records('query')[:12]:
        occluded = w.render(rec)['mask']
        clean = w.render(dict(rec, occluder=None))['mask']
        assert not (clean == OCC).any()
        body = clean > 0
        frac = (occluded[body] == OCC).mean()
        lo, hi = PRESETS['occluded']['occluded_fraction']
        assert lo - 0.02 <= frac <= hi + 0.02
        for name, k in (('head', HEAD), ('upper_body', UPPER), ('lower_body', LOWER),
                        ('shoes', SHOES), ('bag', BAG)):
            part = clean == k
            if not part.any():
                assert name not in rec['occluded_parts']
                continue
            covered = (occluded[part] == OCC).mean()
            assert (covered >= 0.5) == (name in rec['occluded_parts']), (name, covered)
        n_hidden += len(rec['occluded_parts'])
    assert n_hidden > 0


# -- partial ----------------------------------------------------------------------------
def test_partial_queries_are_crops_of_their_box(worlds):
    import cv2
    w = worlds['partial']
    H, W = w.img_size
    regions = set()
    for rec in w.records('query')[:15]:
        assert rec['crop'] is not None
        x0, y0, x1, y1 = rec['visible_box']
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
        assert (x1 - x0) * (y1 - y0) < H * W
        part = w.render(rec)
        full = w.render(dict(rec, crop=None))
        want = cv2.resize(full['img'][y0:y1, x0:x1], (W, H), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(part['img'], want)
        want_mask = cv2.resize(full['mask'][y0:y1, x0:x1], (W, H),
                               interpolation=cv2.INTER_NEAREST)
        np.testing.assert_array_equal(part['mask'], want_mask)
        labels = set(np.unique(part['mask']))
        for name in rec['visible_parts']:
            assert PART_LABELS[name] in labels
        if rec['crop']['region'] in ('upper_half', 'upper_two_thirds'):
            assert SHOES not in labels and 'shoes' not in rec['visible_parts']
            assert y0 < H // 2 and y1 < H
        regions.add(rec['crop']['region'])
    for rec in w.records('gallery'):
        assert rec['crop'] is None and rec['visible_box'] == [0, 0, W, H]
    assert len(regions) >= 2


# -- infrared ---------------------------------------------------------------------------
def test_infrared_has_no_colour_and_differs_from_visible_twin(worlds):
    w = worlds['infrared']
    queries = w.records('query')
    assert {q['modality'] for q in queries} == {'infrared'}
    assert {q['camid'] for q in queries} <= {2, 5}           # SYSU cams 3 and 6, 0-based
    assert {g['camid'] for g in w.records('gallery')} <= {0, 1, 3, 4}
    assert {g['modality'] for g in w.records('gallery')} == {'visible'}
    for rec in queries[:6]:
        ir = w.render(rec)
        img = ir['img'].astype(np.int16)
        assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
        twin = w.render(dict(rec, modality='visible'))
        np.testing.assert_array_equal(ir['mask'], twin['mask'])
        chroma = np.abs(twin['img'].astype(np.int16) - twin['img'].mean(-1, keepdims=True))
        assert chroma.mean() > 5
        assert np.abs(twin['img'].astype(np.int16) - img).mean() > 10


def test_infrared_maps_each_colour_to_one_reflectance_and_keeps_patterns():
    """NIR look-up: a colour name has one intensity for everybody; patterns stay visible."""
    from asym_plugins.data.synthetic.body import LOGO, UPPER, UPPER2
    from asym_plugins.data.synthetic.infrared import (
        MIN_PATTERN_CONTRAST,
        infrared_lut,
        nir_reflectance,
    )
    w = SyntheticWorld('infrared', seed=0, **SMALL)
    idents = [w._identity(p) for p in w.pids('train') + w.pids('query')]
    by_colour = {}
    for a in idents:
        lut = infrared_lut(a)
        by_colour.setdefault(a['upper_colour'], set()).add(float(lut[UPPER]))
        if a['pattern_colour'] is not None:
            assert abs(lut[UPPER2] - lut[UPPER]) >= MIN_PATTERN_CONTRAST - 1e-6
            assert lut[LOGO] == lut[UPPER2]
    assert all(len(v) == 1 for v in by_colour.values())
    # Luminance dominates: white reflects more than black; not a function of hue alone.
    assert nir_reflectance('white') > nir_reflectance('grey') > nir_reflectance('black')
    # A colour change shows in infrared when the two dyes reflect differently.
    rec = w.records('query')[0]
    ident = w._identity(rec['pid'])
    saved = dict(ident)
    ir = w.render(rec)['img']
    other = 'white' if ident['upper_colour'] == 'black' else 'black'
    try:
        ident.update(upper_colour=other)
        assert np.abs(w.render(rec)['img'].astype(np.int16) - ir).max() > 20
    finally:
        ident.clear()
        ident.update(saved)


def test_infrared_training_has_both_modalities(worlds):
    train = worlds['infrared'].records('train')
    for pid in _pids(train):
        mods = {r['modality'] for r in train if r['pid'] == pid}
        assert mods == {'visible', 'infrared'}


# -- captions ---------------------------------------------------------------------------
def test_captions_name_the_identity_colours(worlds):
    w = worlds['text']
    recs = w.records('train') + w.records('gallery')
    assert all(len(r['captions']) == 2 and r['captions'][0] != r['captions'][1] for r in recs)
    logo_front = logo_other = 0
    for rec in recs:
        a = w.attributes(rec['pid'])
        own = {a['upper_colour'], a['pattern_colour'], a['lower_colour'], a['shoe_colour'],
               a['bag_colour'], a['hat'], a['hair_colour']} - {None}
        assert own <= COLOUR_WORDS
        for cap in rec['captions']:
            assert cap[0].isupper() and cap.endswith('.')
            words = colour_words(cap)
            assert words <= own, (cap, a)
            assert {a['upper_colour'], a['lower_colour']} & words, cap
            low = cap.lower().split()
            if a['gender'] == 'man':
                assert 'she' not in low and 'woman' not in low
            else:
                assert 'he' not in low and 'man' not in low
            if a['upper_pattern'] == 'logo':
                if rec['view'] == 'front':
                    logo_front += 'logo' in cap or 'print' in cap
                else:
                    logo_other += 'logo' in cap or 'print' in cap
    assert logo_other == 0          # a logo is only visible from the front
    # Text preset: the query split is the gallery's images (their captions are the queries).
    q, g = w.records('query'), w.records('gallery')
    assert [r['uid'] for r in q] == [r['uid'] for r in g]
    assert {r['split'] for r in q} == {'query'}


def test_captions_vary_in_wording(worlds):
    caps = [c for r in worlds['text'].records('train') for c in r['captions']]
    openings = {' '.join(c.split()[:2]) for c in caps}
    assert len(openings) >= 8
    assert len(set(caps)) > 0.9 * len(caps)


# -- splits -----------------------------------------------------------------------------
@pytest.mark.parametrize('preset', list(PRESETS))
def test_split_sanity(worlds, preset):
    w = worlds[preset]
    train, query, gallery = (w.records(s) for s in ('train', 'query', 'gallery'))
    assert train and query and gallery
    assert min(_pids(train)) >= 1
    assert not _pids(train) & (_pids(query) | _pids(gallery))
    assert _pids(train) == set(w.pids('train'))
    assert _pids(query) <= _pids(gallery)
    if preset != 'text':
        uids = [r['uid'] for r in train + query + gallery]
        assert len(uids) == len(set(uids))
    num_cams = len(w.cameras)
    for r in train + query + gallery:
        assert 0 <= r['camid'] < num_cams
        assert r['modality'] == w.cameras[r['camid']]['modality']
    for q in query:
        # Market rule: a same-camera match does not count; SYSU: cam-3 queries lose cam 2.
        def valid(g):
            if g['pid'] != q['pid']:
                return False
            if preset == 'infrared':
                return not (q['camid'] == 2 and g['camid'] == 1)
            if preset == 'text':
                return True
            return g['camid'] != q['camid']
        assert any(valid(g) for g in gallery), q
    if preset == 'infrared':   # indoor search (gallery cams 1, 2) keeps a match for everyone
        for pid in _pids(query):
            assert any(g['pid'] == pid and g['camid'] in (0, 1) for g in gallery)
    train_cams = {}
    for r in train:
        train_cams.setdefault(r['pid'], set()).add(r['camid'])
    assert all(len(c) >= 2 for c in train_cams.values())


def test_default_sizes_are_cpu_friendly():
    for name, cfg in PRESETS.items():
        assert 50 <= cfg['num_train_ids'] <= 200 and 30 <= cfg['num_test_ids'] <= 100
    w = SyntheticWorld('holistic')
    n = len(w.records('train'))
    assert 800 <= n <= 2000
    assert 100 <= len(w.records('query')) <= 600


def test_identities_share_attributes_but_differ_as_a_whole():
    w = SyntheticWorld('holistic', seed=0, num_train_ids=60, num_test_ids=20)
    ids = [w.attributes(p) for p in range(1, 81)]
    from asym_plugins.data.synthetic.identities import attribute_distance
    assert min(attribute_distance(a, b) for i, a in enumerate(ids) for b in ids[:i]) >= 2
    uppers = [a['upper_colour'] for a in ids]
    assert max(uppers.count(c) for c in set(uppers)) >= 5   # overlap: Re-ID is not trivial


# -- dataset ----------------------------------------------------------------------------
def test_dataset_renders_samples():
    from asym_plugins.registry import DATASETS
    ds = DATASETS.build(dict(type='SyntheticReIDDataset', preset='occluded', split='train',
                             seed=0, pipeline=[], **SMALL))
    assert isinstance(ds, SyntheticReIDDataset)
    assert ds.num_classes == SMALL['num_train_ids']
    s = ds[0]
    assert s['img'].shape == (128, 64, 3) and s['img'].dtype == np.uint8
    assert s['part_mask'].shape == (128, 64) and s['part_mask'].dtype == np.uint8
    assert s['img_path'].startswith('synthetic/occluded/train/')
    assert s['img_path'].endswith('.png') and f"_c{s['camid'] + 1}_" in s['img_path']
    assert s['label'] == 0 and s['modality'] == 'visible'
    np.testing.assert_array_equal(s['img'], ds.world.render(ds.world.records('train')[0])['img'])
    # Picklable for dataloader workers, and renders the same pixels after the round trip.
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone[3]['img'], ds[3]['img'])


def test_dataset_query_split_and_cache():
    ds = SyntheticReIDDataset(preset='text', split='query', cache=True, **SMALL)
    assert ds.test_mode and 'label' not in ds[0]
    a, b = ds[1], ds[1]
    assert a['captions'] and a['img'] is not b['img']
    np.testing.assert_array_equal(a['img'], b['img'])
    assert len(ds._rendered) == 2   # samples 0 and 1
    assert pickle.loads(pickle.dumps(ds))._rendered == {}
    ir = SyntheticReIDDataset(preset='infrared', split='query', img_size=(64, 32), **SMALL)
    assert ir[0]['modality'] == 'infrared' and ir[0]['img'].shape == (64, 32, 3)
    assert ir.metainfo['num_pids'] == SMALL['num_test_ids']


def _list_collate(batch):
    # Raw samples hold variable-length lists (occluded_parts, captions); after the
    # package's PackReIDInputs they would collate with mmengine's pseudo_collate.
    return batch


def test_dataset_in_a_dataloader_with_workers():
    import torch
    ds = SyntheticReIDDataset(preset='partial', split='query', pipeline=[], **SMALL)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=1,
                                         collate_fn=_list_collate)
    batch = next(iter(loader))
    assert len(batch) == 4 and batch[0]['img'].shape == (128, 64, 3)
    np.testing.assert_array_equal(batch[2]['part_mask'], ds[2]['part_mask'])
    assert all(len(b['visible_box']) == 4 for b in batch)
