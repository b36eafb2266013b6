"""Dataset parsers on synthetic data written in each release's exact layout.

Expected counts are computed here from the world's records, never from the parser; the writer's
summary must agree with them too.
"""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest

from asym_plugins.data.datasets.base import DatasetFormatError, ReIDDataset
from asym_plugins.data.datasets.dukemtmc import DukeMTMCReID
from asym_plugins.data.datasets.market1501 import Market1501
from asym_plugins.data.datasets.msmt17 import MSMT17
from asym_plugins.data.datasets.occluded import OccludedDuke, OccludedREID
from asym_plugins.data.datasets.partial import PETHZ, PartialILIDS, PartialREID, PDukeMTMCReID
from asym_plugins.data.datasets.query_gallery import QueryGalleryDataset
from asym_plugins.data.datasets.regdb import RegDB
from asym_plugins.data.datasets.sysu_mm01 import SYSUMM01
from asym_plugins.data.datasets.text_pedes import CUHKPEDES, ICFGPEDES, RSTPReid
from asym_plugins.data.synthetic import SyntheticWorld
from asym_plugins.data.synthetic.writer import write_layout
from asym_plugins.registry import DATASETS

SIZE = dict(num_train_ids=6, num_test_ids=4, img_size=(32, 16))
# layout -> world key; Duke and MSMT17 V1 deliberately get a 6-camera world (camera mapping).
LAYOUT_WORLD = {
    'market1501': 'holistic', 'dukemtmc': 'holistic', 'msmt17_v1': 'holistic',
    'msmt17_v2': 'holistic15', 'occluded_duke': 'occluded', 'occluded_reid': 'occluded',
    'p_dukemtmc': 'occluded', 'p_ethz': 'occluded', 'partial_reid': 'partial',
    'partial_ilids': 'partial', 'sysu_mm01': 'infrared', 'regdb': 'regdb',
    'cuhk_pedes': 'text', 'icfg_pedes': 'text', 'rstpreid': 'text'}
NUM_JUNK, NUM_DISTRACTORS = 3, 2
# mmengine's serialisation runs gc.collect() per dataset (~0.4 s with torch loaded)
FAST = dict(serialize_data=False)


@pytest.fixture(scope='module')
def worlds():
    ten = dict(train_imgs_per_id=10, train_ir_imgs_per_id=10, gallery_imgs_per_id=10,
               query_imgs_per_id=10)
    return {
        'holistic': SyntheticWorld('holistic', seed=0, **SIZE),
        'holistic15': SyntheticWorld('holistic', seed=1, num_cams=15, **SIZE),
        'occluded': SyntheticWorld('occluded', seed=0, **SIZE),
        'partial': SyntheticWorld('partial', seed=0, **SIZE),
        'infrared': SyntheticWorld('infrared', seed=0, **SIZE),
        'regdb': SyntheticWorld('infrared', seed=2, **ten, **SIZE),
        'text': SyntheticWorld('text', seed=0, **SIZE)}


@pytest.fixture(scope='module')
def data(tmp_path_factory, worlds):
    root = str(tmp_path_factory.mktemp('synth'))
    summaries = {layout: write_layout(layout, root, world=worlds[key], num_junk=NUM_JUNK,
                                      num_distractors=NUM_DISTRACTORS)
                 for layout, key in LAYOUT_WORLD.items()}
    return root, summaries


def recs(world, *splits):
    return [r for s in splits for r in world.records(s)]


def n_ids(records):
    return len({r['pid'] for r in records})


def check(ds, summary_split, imgs, pids):
    """Parser and writer summary both match the counts from the world records."""
    assert (ds.metainfo['num_imgs'], ds.metainfo['num_pids']) == (imgs, pids)
    assert (summary_split['imgs'], summary_split['pids']) == (imgs, pids)
    assert ds.metainfo['num_cams'] == summary_split['cams']
    assert len(ds) == imgs


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


# -- single-modality image datasets ------------------------------------------------------------
def test_market1501_counts_junk_and_distractors(data, worlds):
    root, summaries = data
    w, s = worlds['holistic'], summaries['market1501']['splits']
    for split in ('train', 'query'):
        ds = Market1501(**FAST, data_root=root, split=split)
        check(ds, s[split], len(w.records(split)), n_ids(w.records(split)))
        assert {d['camid'] for d in infos(ds)} == {r['camid'] for r in w.records(split)}
    gallery = Market1501(**FAST, data_root=root, split='gallery')
    g = w.records('gallery')
    check(gallery, s['gallery'], len(g) + NUM_DISTRACTORS, n_ids(g) + 1)
    pids = [d['pid'] for d in infos(gallery)]
    assert -1 not in pids and pids.count(0) == NUM_DISTRACTORS
    folder = osp.join(root, 'Market-1501-v15.09.15', 'bounding_box_test')
    assert sum(f.startswith('-1_') for f in os.listdir(folder)) == NUM_JUNK
    train = Market1501(**FAST, data_root=root, split='train')
    assert sorted({d['label'] for d in infos(train)}) == list(range(6))
    assert all(d['modality'] == 'visible' and d['split'] == 'train' for d in infos(train))


@pytest.mark.parametrize('cls,layout', [(DukeMTMCReID, 'dukemtmc'),
                                        (OccludedDuke, 'occluded_duke')])
def test_duke_family_counts_and_camera_mapping(data, worlds, cls, layout):
    root, summaries = data
    w = worlds[LAYOUT_WORLD[layout]]
    n_world_cams = len(w.cameras)
    for split in ('train', 'query', 'gallery'):
        records = w.records(split)
        ds = cls(**FAST, data_root=root, split=split)
        check(ds, summaries[layout]['splits'][split], len(records), n_ids(records))
        got = infos(ds)
        assert all(0 <= d['camid'] < 8 for d in got)
        # the mapping keeps the world camera (mod its count) and each (pid, camera) track
        assert {d['camid'] % n_world_cams for d in got} == {r['camid'] for r in records}
        assert (len({(d['pid'], d['camid']) for d in got})
                == len({(r['pid'], r['camid']) for r in records}))
    if layout == 'occluded_duke':
        assert all(r['occluder'] is not None for r in w.records('query'))


@pytest.mark.parametrize('layout', ['msmt17_v1', 'msmt17_v2'])
def test_msmt17_lists_and_two_digit_cameras(data, worlds, layout):
    root, summaries = data
    w, s = worlds[LAYOUT_WORLD[layout]], summaries[layout]['splits']
    train = w.records('train')
    combined = MSMT17(**FAST, data_root=root, split='train', version=layout[-2:])
    check(combined, s['train'], len(train), n_ids(train))
    # the release (V1 / V2) is detected from the image folders of the dataset folder
    only = MSMT17(**FAST, data_root=summaries[layout]['dataset_root'], split='train',
                  combine_val=False)
    with open(osp.join(summaries[layout]['dataset_root'], 'list_val.txt')) as f:
        n_val = sum(1 for line in f if line.strip())
    assert 0 < n_val and len(only) == len(train) - n_val == s['list_train']['imgs']
    for split in ('query', 'gallery'):
        ds = MSMT17(**FAST, data_root=root, split=split, version=layout[-2:])
        check(ds, s[split], len(w.records(split)), n_ids(w.records(split)))
        # test labels restart at 0
        test_pids = {d['pid'] for d in infos(ds)}
        assert test_pids <= set(range(4))
    all_infos = infos(combined)
    for d in all_infos:
        assert d['camid'] == int(osp.basename(d['img_path']).split('_')[2]) - 1
    assert max(d['camid'] for d in all_infos) >= 9  # cameras 10..15 parsed, not misread
    if layout == 'msmt17_v2':
        assert {d['camid'] for d in all_infos} == {r['camid'] for r in train}
        assert osp.isdir(osp.join(summaries[layout]['dataset_root'], 'mask_train_v2'))
    else:
        assert {d['camid'] % 6 for d in all_infos} == {r['camid'] for r in train}


def test_msmt17_missing_list_file(data, tmp_path):
    root, summaries = data
    copy = tmp_path / 'MSMT17_V1'
    shutil.copytree(summaries['msmt17_v1']['dataset_root'], copy)
    os.remove(copy / 'list_val.txt')
    with pytest.raises(FileNotFoundError, match='list_val.txt'):
        MSMT17(**FAST, data_root=str(tmp_path), split='train')
    assert len(MSMT17(**FAST, data_root=str(tmp_path), split='train', combine_val=False)) > 0


# -- occluded / partial test sets --------------------------------------------------------------
@pytest.mark.parametrize('cls,layout', [(OccludedREID, 'occluded_reid'), (PETHZ, 'p_ethz'),
                                        (PartialREID, 'partial_reid')])
def test_body_image_test_sets(data, worlds, cls, layout):
    root, summaries = data
    w = worlds[LAYOUT_WORLD[layout]]
    for split, camid in (('query', 0), ('gallery', 1)):
        records = w.records(split)
        ds = cls(**FAST, data_root=root, split=split)
        check(ds, summaries[layout]['splits'][split], len(records), n_ids(records))
        assert {d['camid'] for d in infos(ds)} == {camid}
        assert {d['pid'] for d in infos(ds)} == {r['pid'] for r in records}
    with pytest.raises(ValueError, match='test-only'):
        cls(**FAST, data_root=root, split='train')


def test_partial_reid_camid_from_index(data):
    root, _ = data
    q = PartialREID(**FAST, data_root=root, split='query', camid_from_index=True)
    g = PartialREID(**FAST, data_root=root, split='gallery', camid_from_index=True)
    for d in infos(q) + infos(g):
        index = int(osp.splitext(osp.basename(d['img_path']))[0].split('_')[1])
        assert d['camid'] == index - 1
    assert {d['camid'] for d in infos(q)} & {d['camid'] for d in infos(g)}


def test_p_ethz_seeded_id_split(data, worlds):
    root, _ = data
    w = worlds['occluded']
    test_pids = {r['pid'] for r in w.records('query') + w.records('gallery')}
    train = PETHZ(**FAST, data_root=root, split='train', id_split=True, split_seed=3)
    query = PETHZ(**FAST, data_root=root, split='query', id_split=True, split_seed=3)
    gallery = PETHZ(**FAST, data_root=root, split='gallery', id_split=True, split_seed=3)
    tr = {d['pid'] for d in infos(train)}
    te = {d['pid'] for d in infos(query)} | {d['pid'] for d in infos(gallery)}
    assert len(tr) == len(test_pids) // 2 and not tr & te and tr | te == test_pids
    assert {d['camid'] for d in infos(train)} == {0, 1}
    again = PETHZ(**FAST, data_root=root, split='train', id_split=True, split_seed=3)
    assert {d['pid'] for d in infos(again)} == tr


def test_p_dukemtmc(data, worlds):
    root, summaries = data
    w, s = worlds['occluded'], summaries['p_dukemtmc']['splits']
    train = w.records('train')
    ds = PDukeMTMCReID(**FAST, data_root=root, split='train')
    check(ds, s['train'], len(train), n_ids(train))
    n_occ = sum(r['occluder'] is not None for r in train)
    assert 0 < n_occ < len(train)
    assert sum(d['camid'] == 0 for d in infos(ds)) == n_occ
    for split, camid in (('query', 0), ('gallery', 1)):
        ds = PDukeMTMCReID(**FAST, data_root=root, split=split)
        check(ds, s[split], len(w.records(split)), n_ids(w.records(split)))
        assert {d['camid'] for d in infos(ds)} == {camid}


@pytest.mark.parametrize('variant', ['folders', 'bpbreid', 'lists'])
def test_partial_ilids_layouts(tmp_path, worlds, variant):
    summary = write_layout('partial_ilids', str(tmp_path), world=worlds['partial'],
                           variant=variant)
    test_pids = {r['pid'] for r in worlds['partial'].records('query')}
    for split, camid in (('query', 0), ('gallery', 1)):
        ds = PartialILIDS(**FAST, data_root=str(tmp_path), split=split)
        check(ds, summary['splits'][split], len(test_pids), len(test_pids))
        assert {d['pid'] for d in infos(ds)} == test_pids
        assert {d['camid'] for d in infos(ds)} == {camid}
        forced = PartialILIDS(**FAST, data_root=str(tmp_path), split=split, layout=variant)
        assert len(forced) == len(ds)


# -- infrared-visible --------------------------------------------------------------------------
def test_sysu_mm01_protocol_splits(data, worlds):
    root, summaries = data
    w, s = worlds['infrared'], summaries['sysu_mm01']['splits']
    train, test = w.records('train'), recs(w, 'query', 'gallery')
    ds = SYSUMM01(**FAST, data_root=root, split='train')
    check(ds, s['train'], len(train), n_ids(train))
    assert {d['modality'] for d in infos(ds)} == {'visible', 'infrared'}
    infrared = [r for r in test if r['modality'] == 'infrared']
    visible = [r for r in test if r['modality'] == 'visible']
    q = SYSUMM01(**FAST, data_root=root, split='query')
    check(q, s['query'], len(infrared), n_ids(infrared))
    assert {d['camid'] for d in infos(q)} <= {2, 5}  # cams 3 and 6, 0-based
    assert {d['modality'] for d in infos(q)} == {'infrared'}
    g = SYSUMM01(**FAST, data_root=root, split='gallery')
    check(g, s['gallery'], len(visible), n_ids(visible))
    assert {d['camid'] for d in infos(g)} <= {0, 1, 3, 4}
    assert {d['modality'] for d in infos(g)} == {'visible'}
    indoor = SYSUMM01(**FAST, data_root=root, split='gallery', search_mode='indoor')
    assert {d['camid'] for d in infos(indoor)} <= {0, 1}
    assert len(indoor) == sum(r['camid'] in (0, 1) for r in visible)
    # the world's 0-based SYSU cameras are stored unchanged (camK -> K-1)
    assert sorted(d['camid'] for d in infos(q)) == sorted(r['camid'] for r in infrared)


def test_sysu_malformed_id_file(data, tmp_path):
    root, summaries = data
    copy = tmp_path / 'SYSU-MM01'
    shutil.copytree(summaries['sysu_mm01']['dataset_root'], copy)
    (copy / 'exp' / 'test_id.txt').write_text('1,2,three\n')
    with pytest.raises(DatasetFormatError, match=r'test_id\.txt.*comma-separated'):
        SYSUMM01(**FAST, data_root=str(tmp_path), split='query')


def test_regdb_trials_and_modes(data, worlds):
    root, summaries = data
    w = worlds['regdb']
    per = {}
    for r in recs(w, 'train', 'query', 'gallery'):
        per.setdefault((r['pid'], r['modality']), []).append(r)
    pids = sorted({p for p, _ in per})
    n_per = {k: min(10, len(v)) for k, v in per.items()}
    assert set(n_per.values()) == {10}
    n_train, n_test = len(pids) // 2, len(pids) - len(pids) // 2
    seen_test = []
    for trial in (1, 2, 10):
        train = RegDB(**FAST, data_root=root, split='train', trial=trial)
        assert train.metainfo['num_pids'] == n_train
        assert len(train) == 20 * n_train
        assert {d['camid'] for d in infos(train)} == {0, 1}
        q = RegDB(**FAST, data_root=root, split='query', trial=trial)
        g = RegDB(**FAST, data_root=root, split='gallery', trial=trial)
        assert len(q) == len(g) == 10 * n_test
        assert {(d['camid'], d['modality']) for d in infos(q)} == {(0, 'visible')}
        assert {(d['camid'], d['modality']) for d in infos(g)} == {(1, 'infrared')}
        q2 = RegDB(**FAST, data_root=root, split='query', trial=trial, mode='thermal_to_visible')
        assert {d['modality'] for d in infos(q2)} == {'infrared'}
        # a query and a gallery of opposite modes hold one modality on both sides: refused
        with pytest.raises(ValueError, match=r'query mode=.thermal_to_visible. but gallery '
                                             r'mode=.visible_to_thermal.'):
            QueryGalleryDataset(query=q2, gallery=g)
        with pytest.raises(ValueError, match='query trial=.* but gallery trial='):
            QueryGalleryDataset(query=q, gallery=RegDB(**FAST, data_root=root, split='gallery',
                                                       trial=trial % 10 + 1))
        assert len(QueryGalleryDataset(query=q, gallery=g)) == len(q) + len(g)
        train_paths = {d['img_path'] for d in infos(train)}
        assert not train_paths & {d['img_path'] for d in infos(q) + infos(g)}
        seen_test.append(frozenset(osp.dirname(d['img_path']) for d in infos(q)))
        if trial == 1:
            check(train, summaries['regdb']['splits']['train'], 20 * n_train, n_train)
            check(q, summaries['regdb']['splits']['query'], 10 * n_test, n_test)
    assert len(set(seen_test)) > 1  # the trials differ
    with pytest.raises(ValueError, match='trial'):
        RegDB(**FAST, data_root=root, split='train', trial=11)


# -- text --------------------------------------------------------------------------------------
@pytest.mark.parametrize('cls,layout,k', [(CUHKPEDES, 'cuhk_pedes', 2),
                                          (ICFGPEDES, 'icfg_pedes', 1),
                                          (RSTPReid, 'rstpreid', 2)])
def test_text_datasets_caption_counts(data, worlds, cls, layout, k):
    root, summaries = data
    w, s = worlds['text'], summaries[layout]['splits']
    train = w.records('train')
    test = list({r['uid']: r for r in recs(w, 'gallery', 'query')}.values())
    ds = cls(**FAST, data_root=root, split='train')
    check(ds, s['train'], len(train), n_ids(train))
    n_caps = sum(len(r['captions'][:k]) for r in train)
    assert ds.metainfo['num_captions'] == s['train']['captions'] == n_caps
    q = cls(**FAST, data_root=root, split='query')
    g = cls(**FAST, data_root=root, split='gallery')
    check(q, s['query'], len(test), n_ids(test))
    check(g, s['gallery'], len(test), n_ids(test))
    assert q.metainfo['num_captions'] == sum(len(r['captions'][:k]) for r in test)
    assert [d['img_path'] for d in infos(q)] == [d['img_path'] for d in infos(g)]
    assert all('captions' not in d for d in infos(g))
    offset = 1 if layout == 'cuhk_pedes' else 0
    assert {d['pid'] for d in infos(q)} == {r['pid'] - offset for r in test}


def test_icfg_accepts_both_json_names(data, tmp_path):
    _, summaries = data
    copy = tmp_path / 'ICFG-PEDES'
    shutil.copytree(summaries['icfg_pedes']['dataset_root'], copy)
    os.rename(copy / 'ICFG-PEDES.json', copy / 'ICFG_PEDES.json')
    assert len(ICFGPEDES(**FAST, data_root=str(copy), split='query')) > 0


def _cuhk_copy(summaries, tmp_path):
    copy = tmp_path / 'CUHK-PEDES'
    shutil.copytree(summaries['cuhk_pedes']['dataset_root'], copy)
    with open(copy / 'reid_raw.json') as f:
        return copy, json.load(f)


def test_text_bad_annotations(data, tmp_path):
    _, summaries = data
    copy, entries = _cuhk_copy(summaries, tmp_path)
    ann = copy / 'reid_raw.json'
    ann.write_text(json.dumps(entries)[:-40])
    with pytest.raises(DatasetFormatError, match=r'reid_raw\.json.*line 1, column'):
        CUHKPEDES(**FAST, data_root=str(copy), split='train')
    bad = [dict(e) for e in entries]
    del bad[0]['file_path']
    ann.write_text(json.dumps(bad))
    with pytest.raises(DatasetFormatError, match=r"entry 0 .*no image path 'file_path'"):
        CUHKPEDES(**FAST, data_root=str(copy), split=entries[0]['split'] if entries[0]['split'] ==
                  'train' else 'query')
    bad = [dict(e) for e in entries]
    bad[0]['file_path'] = 'CUHK01/missing.png'
    ann.write_text(json.dumps(bad))
    with pytest.raises(DatasetFormatError, match=r'missing\.png.*does not exist'):
        CUHKPEDES(**FAST, data_root=str(copy), split='train')
    os.remove(ann)
    (copy / 'caption_all.json').write_text(json.dumps(
        [{k: v for k, v in e.items() if k != 'split'} for e in entries]))
    with pytest.raises(DatasetFormatError, match=r'caption_all\.json.*reid_raw\.json'):
        CUHKPEDES(**FAST, data_root=str(copy), split='train')


# -- bad input ----------------------------------------------------------------------------------
def test_missing_folder(tmp_path, data):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        Market1501(**FAST, data_root=str(tmp_path / 'nowhere'), split='train')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match=r'bounding_box_train.*Market-1501-v15\.09\.15'):
        Market1501(**FAST, data_root=str(tmp_path / 'empty'), split='train')
    with pytest.raises(FileNotFoundError, match=r'idx.*train_visible_1\.txt'):
        RegDB(**FAST, data_root=str(tmp_path / 'empty'), split='train')


def test_bad_file_name(data, tmp_path):
    _, summaries = data
    copy = tmp_path / 'Market-1501-v15.09.15'
    shutil.copytree(summaries['market1501']['dataset_root'], copy)
    src = sorted(os.listdir(copy / 'query'))[0]
    shutil.copy(copy / 'query' / src, copy / 'query' / 'person_one.jpg')
    with pytest.raises(DatasetFormatError, match=r"person_one\.jpg.*'0002_c1s1_000451_03\.jpg'"):
        Market1501(**FAST, data_root=str(tmp_path), split='query')
    (copy / 'bounding_box_train' / 'Thumbs.db').write_bytes(b'\0')  # ignored like torchreid
    assert len(Market1501(**FAST, data_root=str(tmp_path), split='train')) > 0


def test_undecodable_image(data, tmp_path):
    _, summaries = data
    copy = tmp_path / 'DukeMTMC-reID'
    shutil.copytree(summaries['dukemtmc']['dataset_root'], copy)
    broken = copy / 'query' / '9999_c1_f0000001.jpg'
    broken.write_bytes(b'not a jpeg at all')
    ds = DukeMTMCReID(**FAST, data_root=str(tmp_path), split='query', verify_images=False)
    assert str(broken) in {d['img_path'] for d in infos(ds)}
    with pytest.raises(DatasetFormatError, match=r'9999_c1_f0000001\.jpg.*cannot be decoded'):
        DukeMTMCReID(**FAST, data_root=str(tmp_path), split='query', verify_images=True)
    os.remove(broken)
    assert len(DukeMTMCReID(**FAST, data_root=str(tmp_path), split='query', verify_images=True)) > 0


def test_root_variants(data, tmp_path):
    _, summaries = data
    inner = summaries['market1501']['dataset_root']
    expected = len(Market1501(**FAST, data_root=inner, split='query'))
    torchreid_style = tmp_path / 'torchreid' / 'market1501'
    torchreid_style.mkdir(parents=True)
    os.symlink(inner, torchreid_style / 'Market-1501-v15.09.15')
    transreid_style = tmp_path / 'transreid'
    transreid_style.mkdir()
    os.symlink(inner, transreid_style / 'market1501')
    for root in (tmp_path / 'torchreid', torchreid_style, transreid_style,
                 transreid_style / 'market1501', osp.dirname(inner)):
        assert len(Market1501(**FAST, data_root=str(root), split='query')) == expected
    sysu = summaries['sysu_mm01']['dataset_root']
    assert len(SYSUMM01(**FAST, data_root=sysu, split='query')) == len(
        SYSUMM01(**FAST, data_root=osp.dirname(sysu), split='query'))


# -- part masks, registry, query + gallery wrapper ----------------------------------------------
def test_part_mask_paths(data):
    import cv2
    root, _ = data
    ds = OccludedDuke(**FAST, data_root=root, split='query')
    d = ds.get_data_info(0)
    img, mask = cv2.imread(d['img_path']), cv2.imread(d['part_mask_path'], cv2.IMREAD_UNCHANGED)
    assert mask.shape == img.shape[:2] and mask.dtype == np.uint8 and mask.max() <= 6
    assert d['part_mask_path'].endswith(osp.join('part_masks', 'query',
                                                 osp.basename(d['img_path'])[:-4] + '.png'))


def test_registered_names():
    for name in ('Market1501', 'DukeMTMCReID', 'MSMT17', 'OccludedDuke', 'OccludedREID',
                 'PartialREID', 'PartialILIDS', 'PDukeMTMCReID', 'PETHZ', 'SYSUMM01', 'RegDB',
                 'CUHKPEDES', 'ICFGPEDES', 'RSTPReid', 'QueryGalleryDataset'):
        assert DATASETS.get(name) is not None, name


def test_query_gallery_dataset(data):
    root, _ = data
    ds = DATASETS.build(dict(
        type='QueryGalleryDataset',
        query=dict(type='Market1501', **FAST, data_root=root, split='query'),
        gallery=Market1501(**FAST, data_root=root, split='gallery'), **FAST))
    m = ds.metainfo
    assert len(ds) == m['num_query'] + m['num_gallery']
    splits = [ds.get_data_info(i)['split'] for i in range(len(ds))]
    assert splits == ['query'] * m['num_query'] + ['gallery'] * m['num_gallery']
    assert ds[0]['split'] == 'query' and ds[len(ds) - 1]['split'] == 'gallery'
    text = QueryGalleryDataset(
        query=dict(type='RSTPReid', **FAST, data_root=root, split='query'),
        gallery=dict(type='RSTPReid', **FAST, data_root=root, split='gallery'), **FAST)
    assert text.metainfo['query_num_captions'] > 0
    empty = ReIDDataset(data_list=[dict(img_path='x.jpg', pid=1, camid=0)], split='gallery',
                        indices=[], **FAST)
    with pytest.raises(DatasetFormatError, match='gallery dataset .* is empty'):
        QueryGalleryDataset(query=dict(type='Market1501', **FAST, data_root=root, split='query'),
                            gallery=empty, **FAST)
