"""Every dataset parser on file names, list lines and JSON entries written BY HAND as the releases
publish them (not by our synthetic writer), with pids / camids / counts worked out by hand; the
Market-1501, DukeMTMC-reID and MSMT17 trees are also parsed by torchreid's own dataset classes,
which must agree. Then fuzzed names: a name outside the format gives a ``DatasetFormatError``
naming the file, never a silent drop or a wrong id.

Images are empty files: the parsers read names only (``verify_images`` is off).
"""
import glob
import json
import os
import os.path as osp
import re
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asym_plugins.data.datasets import (
    CUHKPEDES,
    ICFGPEDES,
    MSMT17,
    PETHZ,
    SYSUMM01,
    DatasetFormatError,
    DukeMTMCReID,
    Market1501,
    OccludedDuke,
    OccludedREID,
    PartialILIDS,
    PartialREID,
    PDukeMTMCReID,
    RegDB,
    RSTPReid,
)

FAST = dict(serialize_data=False, verify_images=False)  # empty files: names only


def touch(root, *rels):
    for rel in rels:
        path = osp.join(root, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        open(path, 'wb').close()


def write(root, rel, text):
    path = osp.join(root, rel)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', newline='') as f:
        f.write(text)


def rows(ds, key='pid'):
    """(file name, pid or label, camid) of every sample, in the parser's order."""
    out = []
    for i in range(len(ds)):
        d = ds.get_data_info(i)
        out.append((osp.basename(d['img_path']), d[key], d['camid']))
    return out


def torchreid_rows(items):
    return [(osp.basename(x[0]), x[1], x[2]) for x in items]


# -- Market-1501 ---------------------------------------------------------------------------------
MARKET = {
    'bounding_box_train': ['0002_c1s1_000451_03.jpg', '0002_c1s1_000551_01.jpg',
                           '0002_c2s1_000301_01.jpg', '0007_c2s3_070952_01.jpg',
                           '0007_c3s3_077419_03.jpg', '1500_c6s3_086542_01.jpg', 'Thumbs.db'],
    'query': ['0001_c1s1_001051_00.jpg', '0001_c2s1_000301_00.jpg', '1501_c6s4_001902_00.jpg'],
    'bounding_box_test': ['-1_c1s1_000401_03.jpg', '-1_c3s1_000076_02.jpg',
                          '0000_c1s1_000151_01.jpg', '0000_c6s4_002452_04.jpg',
                          '0001_c1s1_001051_03.jpg', '0001_c5s1_009546_06.jpg'],
}


@pytest.fixture
def market(tmp_path):
    # torchreid's nesting: <root>/market1501/Market-1501-v15.09.15/<split folders>
    base = tmp_path / 'market1501' / 'Market-1501-v15.09.15'
    for sub, names in MARKET.items():
        touch(str(base), *[f'{sub}/{n}' for n in names])
    return str(tmp_path)


def test_market1501_hand_names(market):
    train = Market1501(data_root=market, split='train', **FAST)
    assert rows(train) == [('0002_c1s1_000451_03.jpg', 2, 0), ('0002_c1s1_000551_01.jpg', 2, 0),
                           ('0002_c2s1_000301_01.jpg', 2, 1), ('0007_c2s3_070952_01.jpg', 7, 1),
                           ('0007_c3s3_077419_03.jpg', 7, 2), ('1500_c6s3_086542_01.jpg', 1500, 5)]
    assert [r[1] for r in rows(train, 'label')] == [0, 0, 0, 1, 1, 2]
    assert (train.metainfo['num_pids'], train.metainfo['num_cams']) == (3, 4)  # c1 c2 c3 c6
    query = Market1501(data_root=market, split='query', **FAST)
    assert [r[1:] for r in rows(query)] == [(1, 0), (1, 1), (1501, 5)]
    gallery = Market1501(data_root=market, split='gallery', **FAST)
    # the two -1 junk images are ignored, the 0000 distractors kept
    assert [r[1:] for r in rows(gallery)] == [(0, 0), (0, 5), (1, 0), (1, 4)]
    assert gallery.metainfo['num_imgs'] == 4


def test_market1501_agrees_with_torchreid(market):
    from torchreid.reid.data.datasets.image.market1501 import Market1501 as TRMarket
    tr = TRMarket(root=market)
    # torchreid labels training ids in set-iteration order (not sorted): compare its pids
    for split, theirs in (('train', tr.process_dir(tr.train_dir, relabel=False)),
                          ('query', tr.query), ('gallery', tr.gallery)):
        ours = Market1501(data_root=market, split=split, **FAST)
        assert sorted(rows(ours)) == sorted(torchreid_rows(theirs)), split
    assert len(tr.train) == 6 and len({x[1] for x in tr.train}) == 3


# -- DukeMTMC-reID and Occluded-Duke --------------------------------------------------------------
DUKE = {
    'bounding_box_train': ['0001_c2_f0046182.jpg', '0001_c5_f0051341.jpg',
                           '0003_c1_f0057797.jpg', '0003_c8_f0164720.jpg'],
    'query': ['0005_c2_f0046985.jpg', '0005_c5_f0051781.jpg'],
    'bounding_box_test': ['0002_c1_f0044158.jpg', '0005_c7_f0122580.jpg',
                          '0005_c8_f0149540.jpg', '7140_c6_f0168862.jpg'],
}


def test_dukemtmc_hand_names_and_torchreid(tmp_path):
    base = tmp_path / 'dukemtmc-reid' / 'DukeMTMC-reID'   # torchreid's nesting
    for sub, names in DUKE.items():
        touch(str(base), *[f'{sub}/{n}' for n in names])
    root = str(tmp_path)
    train = DukeMTMCReID(data_root=root, split='train', **FAST)
    assert [r[1:] for r in rows(train)] == [(1, 1), (1, 4), (3, 0), (3, 7)]
    assert [r[1] for r in rows(train, 'label')] == [0, 0, 1, 1]
    query = DukeMTMCReID(data_root=root, split='query', **FAST)
    assert [r[1:] for r in rows(query)] == [(5, 1), (5, 4)]
    gallery = DukeMTMCReID(data_root=root, split='gallery', **FAST)
    assert [r[1:] for r in rows(gallery)] == [(2, 0), (5, 6), (5, 7), (7140, 5)]

    from torchreid.reid.data.datasets.image.dukemtmcreid import DukeMTMCreID
    tr = DukeMTMCreID(root=root)
    for split, theirs, ours in (('train', tr.process_dir(tr.train_dir, relabel=False), train),
                                ('query', tr.query, query), ('gallery', tr.gallery, gallery)):
        assert sorted(rows(ours)) == sorted(torchreid_rows(theirs)), split


def test_occluded_duke_hand_names(tmp_path):
    base = tmp_path / 'Occluded_Duke'
    touch(str(base), 'bounding_box_train/0001_c2_f0046182.jpg',
          'bounding_box_train/0008_c3_f0056346.jpg', 'query/0005_c2_f0046985.jpg',
          'bounding_box_test/0005_c5_f0051781.jpg', 'bounding_box_test/0019_c8_f0027434.jpg')
    assert [r[1:] for r in rows(OccludedDuke(data_root=str(tmp_path), split='train', **FAST),
                                'label')] == [(0, 1), (1, 2)]
    assert [r[1:] for r in rows(OccludedDuke(data_root=str(tmp_path), split='query',
                                             **FAST))] == [(5, 1)]
    assert [r[1:] for r in rows(OccludedDuke(data_root=str(tmp_path), split='gallery',
                                             **FAST))] == [(5, 4), (19, 7)]


# -- MSMT17 -------------------------------------------------------------------------------------
MSMT_LISTS = {
    'list_train.txt': ['0000/0000_000_01_0303morning_0015_0.jpg 0',
                       '0000/0000_001_05_0303morning_0030_1.jpg 0',
                       '0001/0001_000_15_0303afternoon_1029_0.jpg 1'],
    'list_val.txt': ['0001/0001_004_10_0303noon_0867_2.jpg 1'],
    'list_query.txt': ['0000/0000_000_01_0303morning_0036_1.jpg 0',
                       '0003/0003_002_12_0303afternoon_1211_0.jpg 3'],
    'list_gallery.txt': ['0000/0000_001_14_0303noon_0877_0.jpg 0',
                         '0003/0003_000_06_0303morning_0420_1.jpg 3',
                         '0003/0003_005_11_0113noon_0133_0.jpg 3'],
}


MSMT_DIRS = {'MSMT17_V1': ('train', 'test'), 'MSMT17_V2': ('mask_train_v2', 'mask_test_v2')}


@pytest.fixture(params=sorted(MSMT_DIRS))
def msmt(tmp_path, request):
    base = tmp_path / 'msmt17' / request.param   # torchreid's nesting
    train_dir, test_dir = MSMT_DIRS[request.param]
    for name, lines in MSMT_LISTS.items():
        folder = train_dir if name in ('list_train.txt', 'list_val.txt') else test_dir
        # the release's list files end every line with a newline, Windows style in some copies
        write(str(base), name, ''.join(line + '\r\n' for line in lines))
        touch(str(base), *[f'{folder}/{line.split()[0]}' for line in lines])
    return str(tmp_path)


def test_msmt17_hand_lists(msmt):
    train = MSMT17(data_root=msmt, split='train', **FAST)
    # camid = third field - 1: cameras 15 and 10 are not misread as 1
    assert [r[1:] for r in rows(train)] == [(0, 0), (0, 4), (1, 14), (1, 9)]
    only = MSMT17(data_root=msmt, split='train', combine_val=False, **FAST)
    assert len(only) == 3
    query = MSMT17(data_root=msmt, split='query', **FAST)
    assert [r[1:] for r in rows(query)] == [(0, 0), (3, 11)]
    gallery = MSMT17(data_root=msmt, split='gallery', **FAST)
    assert [r[1:] for r in rows(gallery)] == [(0, 13), (3, 5), (3, 10)]
    assert gallery.metainfo['num_pids'] == 2 and gallery.metainfo['num_cams'] == 3


def test_msmt17_agrees_with_torchreid(msmt):
    from torchreid.reid.data.datasets.image.msmt17 import MSMT17 as TRMSMT
    # torchreid splits each line on one space: give it the lines without '\r'
    base = glob.glob(osp.join(msmt, 'msmt17', 'MSMT17_V*'))[0]
    for name, lines in MSMT_LISTS.items():
        write(base, name, ''.join(line + '\n' for line in lines))
    tr = TRMSMT(root=msmt, combineall=False)
    only = MSMT17(data_root=msmt, split='train', combine_val=False, **FAST)
    # torchreid's train split without combineall is list_train; its pids are the list labels
    assert sorted(rows(only)) == sorted(torchreid_rows(tr.train))
    for split, theirs in (('query', tr.query), ('gallery', tr.gallery)):
        assert sorted(rows(MSMT17(data_root=msmt, split=split, **FAST))) == sorted(
            torchreid_rows(theirs)), split


def test_msmt17_bad_list_line_names_file_and_line(msmt):
    base = glob.glob(osp.join(msmt, 'msmt17', 'MSMT17_V*'))[0]
    write(base, 'list_query.txt', '0000/0000_000_01_0303morning_0036_1.jpg 0\n'
                                  '0003/0003_002_12_0303afternoon_1211_0.jpg\n')
    with pytest.raises(DatasetFormatError, match=r'list_query\.txt:2'):
        MSMT17(data_root=msmt, split='query', **FAST)


# -- SYSU-MM01 ----------------------------------------------------------------------------------
@pytest.fixture
def sysu(tmp_path):
    base = str(tmp_path / 'SYSU-MM01')
    write(base, 'exp/train_id.txt', '1,2,4\n')
    write(base, 'exp/val_id.txt', '3')            # no newline at the end
    write(base, 'exp/test_id.txt', '6,10,17\n')
    touch(base,
          # training ids (val id 3 included)
          'cam1/0001/0001.jpg', 'cam1/0001/0002.jpg', 'cam3/0001/0001.jpg',
          'cam2/0002/0001.jpg', 'cam6/0002/0001.jpg', 'cam4/0003/0001.jpg',
          'cam5/0004/0001.jpg', 'cam3/0004/0001.jpg',
          # test ids
          'cam1/0006/0001.jpg', 'cam2/0006/0001.jpg', 'cam3/0006/0001.jpg',
          'cam3/0006/0002.jpg', 'cam4/0010/0001.jpg', 'cam5/0010/0001.jpg',
          'cam6/0010/0001.jpg', 'cam1/0017/0001.jpg', 'cam6/0017/0001.jpg',
          # an identity in no id file: never read
          'cam1/0099/0001.jpg')
    return str(tmp_path)


def test_sysu_mm01_hand_layout(sysu):
    train = SYSUMM01(data_root=sysu, split='train', **FAST)
    got = sorted((d['pid'], d['camid'], d['modality'], d['label'])
                 for d in (train.get_data_info(i) for i in range(len(train))))
    assert got == [(1, 0, 'visible', 0), (1, 0, 'visible', 0), (1, 2, 'infrared', 0),
                   (2, 1, 'visible', 1), (2, 5, 'infrared', 1), (3, 3, 'visible', 2),
                   (4, 2, 'infrared', 3), (4, 4, 'visible', 3)]
    query = SYSUMM01(data_root=sysu, split='query', **FAST)
    assert sorted((d['pid'], d['camid']) for d in map(query.get_data_info, range(len(query)))) \
        == [(6, 2), (6, 2), (10, 5), (17, 5)]
    assert {query.get_data_info(i)['modality'] for i in range(len(query))} == {'infrared'}
    gallery = SYSUMM01(data_root=sysu, split='gallery', search_mode='all', **FAST)
    assert sorted((d['pid'], d['camid']) for d in map(gallery.get_data_info,
                                                      range(len(gallery)))) \
        == [(6, 0), (6, 1), (10, 3), (10, 4), (17, 0)]
    indoor = SYSUMM01(data_root=sysu, split='gallery', search_mode='indoor', **FAST)
    assert sorted((d['pid'], d['camid']) for d in map(indoor.get_data_info,
                                                      range(len(indoor)))) \
        == [(6, 0), (6, 1), (17, 0)]


def test_sysu_bad_image_name_is_named(sysu):
    touch(osp.join(sysu, 'SYSU-MM01'), 'cam3/0006/0003 (copy).jpg')
    with pytest.raises(DatasetFormatError, match=re.escape('0003 (copy).jpg')):
        SYSUMM01(data_root=sysu, split='query', **FAST)


# -- RegDB --------------------------------------------------------------------------------------
def test_regdb_hand_idx_files(tmp_path):
    base = str(tmp_path / 'RegDB')
    v = ['Visible/1/male_front_v_00007_1.bmp 0', 'Visible/1/male_front_v_00008_1.bmp 0',
         'Visible/3/female_back_v_00151_3.bmp 1']
    t = ['Thermal/1/male_front_t_00007_1.bmp 0', 'Thermal/3/female_back_t_00151_3.bmp 1']
    tv = ['Visible/2/male_back_v_00081_2.bmp 0', 'Visible/4/female_front_v_00201_4.bmp 1']
    tt = ['Thermal/2/male_back_t_00081_2.bmp 0', 'Thermal/2/male_back_t_00082_2.bmp 0',
          'Thermal/4/female_front_t_00201_4.bmp 1']
    for name, lines in (('train_visible_1', v), ('train_thermal_1', t),
                        ('test_visible_1', tv), ('test_thermal_1', tt)):
        write(base, f'idx/{name}.txt', '\r\n'.join(lines) + '\r\n\r\n')   # CRLF, blank end
        touch(base, *[line.split()[0] for line in lines])
    root = str(tmp_path)
    train = RegDB(data_root=root, split='train', trial=1, **FAST)
    got = sorted((d['pid'], d['camid'], d['modality']) for d in map(train.get_data_info,
                                                                     range(len(train))))
    assert got == [(0, 0, 'visible'), (0, 0, 'visible'), (0, 1, 'infrared'),
                   (1, 0, 'visible'), (1, 1, 'infrared')]
    q = RegDB(data_root=root, split='query', trial=1, mode='thermal_to_visible', **FAST)
    g = RegDB(data_root=root, split='gallery', trial=1, mode='thermal_to_visible', **FAST)
    assert [r[1:] for r in rows(q)] == [(0, 1), (0, 1), (1, 1)]
    assert [r[1:] for r in rows(g)] == [(0, 0), (1, 0)]
    write(base, 'idx/test_visible_1.txt', 'Visible/2/male_back_v_00081_2.bmp zero\n')
    with pytest.raises(DatasetFormatError, match=r'test_visible_1\.txt:1'):
        RegDB(data_root=root, split='query', trial=1, **FAST)


# -- text-image datasets ------------------------------------------------------------------------
def test_cuhk_pedes_reid_raw_json(tmp_path):
    base = str(tmp_path / 'CUHK-PEDES')
    entries = [
        {'split': 'train', 'captions': ['A woman in a white shirt and black skirt.',
                                        'The lady wears a white top and carries a bag.'],
         'file_path': 'CUHK01/0363004.png', 'processed_tokens': [['a', 'woman'], ['the']],
         'id': 1},
        {'split': 'train', 'captions': ['A man with a red jacket.'],
         'file_path': 'train_query/p8130_s10935.jpg', 'processed_tokens': [['a', 'man']],
         'id': 3},
        {'split': 'val', 'captions': ['A boy in blue.'], 'file_path': 'cam_a/000_45.bmp',
         'processed_tokens': [['a']], 'id': 11004},
        {'split': 'test', 'captions': ['A girl in pink shorts.', 'Pink shorts, white shoes.'],
         'file_path': 'test_query/p10376_s14337.jpg', 'processed_tokens': [['a'], ['pink']],
         'id': 12004},
        {'split': 'test', 'captions': ['A person walking with a black backpack.'],
         'file_path': 'Market/0001_c1s1_001051_00.jpg', 'processed_tokens': [['a']],
         'id': 12005},
    ]
    write(base, 'reid_raw.json', json.dumps(entries))
    touch(base, *[f"imgs/{e['file_path']}" for e in entries])
    root = str(tmp_path)
    train = CUHKPEDES(data_root=root, split='train', **FAST)
    assert [(d['pid'], d['label'], len(d['captions'])) for d in
            map(train.get_data_info, range(len(train)))] == [(0, 0, 2), (2, 1, 1)]
    query = CUHKPEDES(data_root=root, split='query', **FAST)
    assert [d['pid'] for d in map(query.get_data_info, range(2))] == [12003, 12004]
    assert query.metainfo['num_captions'] == 3
    gallery = CUHKPEDES(data_root=root, split='gallery', **FAST)
    assert len(gallery) == 2 and 'captions' not in gallery.get_data_info(0)
    val = CUHKPEDES(data_root=root, split='gallery', test_split='val', **FAST)
    assert rows(val) == [('000_45.bmp', 11003, 0)]
    # the original release's caption_all.json has no split
    os.remove(osp.join(base, 'reid_raw.json'))
    write(base, 'caption_all.json', json.dumps([{k: v for k, v in e.items() if k != 'split'}
                                                for e in entries]))
    with pytest.raises(DatasetFormatError, match='caption_all.json.*reid_raw.json'):
        CUHKPEDES(data_root=root, split='train', **FAST)


@pytest.mark.parametrize('ann', ['ICFG-PEDES.json', 'ICFG_PEDES.json'])
def test_icfg_pedes_json(tmp_path, ann):
    base = str(tmp_path / 'ICFG-PEDES')
    entries = [
        {'id': 0, 'file_path': 'train/0000/0000_000_01_0303morning_0008_0.jpg',
         'captions': ['A man in a grey coat and dark trousers.'], 'processed_tokens': [['a']],
         'split': 'train'},
        {'id': 2, 'file_path': 'train/0002/0002_004_05_0303morning_0221_1.jpg',
         'captions': ['A woman with long black hair.'], 'processed_tokens': [['a']],
         'split': 'train'},
        {'id': 3102, 'file_path': 'test/3102/3102_000_07_0303noon_0001_0.jpg',
         'captions': ['Someone in a yellow t-shirt.'], 'processed_tokens': [['s']],
         'split': 'test'},
    ]
    write(base, ann, json.dumps(entries, indent=2))
    touch(base, *[f"imgs/{e['file_path']}" for e in entries])
    train = ICFGPEDES(data_root=str(tmp_path), split='train', **FAST)
    assert [(d['pid'], d['label']) for d in map(train.get_data_info, range(2))] == [(0, 0),
                                                                                  (2, 1)]
    query = ICFGPEDES(data_root=str(tmp_path), split='query', **FAST)
    assert rows(query) == [('3102_000_07_0303noon_0001_0.jpg', 3102, 0)]
    assert query.get_data_info(0)['captions'] == ['Someone in a yellow t-shirt.']


def test_rstpreid_data_captions_json(tmp_path):
    base = str(tmp_path / 'RSTPReid')
    entries = [
        {'id': 0, 'img_path': '0000_c14_0004.jpg', 'captions': ['c1', 'c2'], 'split': 'train'},
        {'id': 0, 'img_path': '0000_c7_0011.jpg', 'captions': ['c3', 'c4'], 'split': 'train'},
        {'id': 3701, 'img_path': '3701_c2_0031.jpg', 'captions': ['c5', 'c6'], 'split': 'val'},
        {'id': 3901, 'img_path': '3901_c14_0004.jpg', 'captions': ['c7', 'c8'],
         'split': 'test'},
    ]
    write(base, 'data_captions.json', json.dumps(entries))
    touch(base, *[f"imgs/{e['img_path']}" for e in entries])
    root = str(tmp_path)
    train = RSTPReid(data_root=root, split='train', **FAST)
    assert [r[1] for r in rows(train, 'label')] == [0, 0] and len(train) == 2
    query = RSTPReid(data_root=root, split='query', **FAST)
    assert rows(query) == [('3901_c14_0004.jpg', 3901, 0)]
    assert query.metainfo['num_captions'] == 2
    val = RSTPReid(data_root=root, split='query', test_split='val', **FAST)
    assert rows(val) == [('3701_c2_0031.jpg', 3701, 0)]
    # file_path instead of img_path (the CUHK-PEDES key): named in the error
    no_path = {k: v for k, v in entries[0].items() if k != 'img_path'}
    write(base, 'data_captions.json', json.dumps([dict(no_path, file_path='0000_c14_0004.jpg')]))
    with pytest.raises(DatasetFormatError, match="data_captions.json entry 0.*'img_path'"):
        RSTPReid(data_root=root, split='train', **FAST)


# -- occluded / partial test sets ----------------------------------------------------------------
def test_occluded_reid_tif_folders(tmp_path):
    base = str(tmp_path / 'Occluded_REID')
    touch(base, 'occluded_body_images/001/001_01.tif', 'occluded_body_images/001/001_05.tif',
          'occluded_body_images/200/200_03.tif', 'whole_body_images/001/001_01.tif',
          'whole_body_images/200/200_01.tif', 'whole_body_images/200/200_05.tif')
    q = OccludedREID(data_root=str(tmp_path), split='query', **FAST)
    g = OccludedREID(data_root=str(tmp_path), split='gallery', **FAST)
    assert [r[1:] for r in rows(q)] == [(1, 0), (1, 0), (200, 0)]
    assert [r[1:] for r in rows(g)] == [(1, 1), (200, 1), (200, 1)]
    with pytest.raises(ValueError, match='test-only'):
        OccludedREID(data_root=str(tmp_path), split='train', **FAST)


def test_partial_reid_both_camid_conventions(tmp_path):
    base = str(tmp_path / 'Partial-REID_Dataset')
    touch(base, 'partial_body_images/001_001.jpg', 'partial_body_images/001_005.jpg',
          'partial_body_images/060_002.jpg', 'whole_body_images/001_001.jpg',
          'whole_body_images/060_003.jpg', 'occluded_body_images/001_001.jpg')
    root = str(tmp_path)
    assert [r[1:] for r in rows(PartialREID(data_root=root, split='query', **FAST))] == [
        (1, 0), (1, 0), (60, 0)]
    assert [r[1:] for r in rows(PartialREID(data_root=root, split='gallery', **FAST))] == [
        (1, 1), (60, 1)]
    # AGW / fast-reid: the image index is the camera (0-based here)
    assert [r[1:] for r in rows(PartialREID(data_root=root, split='query',
                                            camid_from_index=True, **FAST))] == [
        (1, 0), (1, 4), (60, 1)]


def test_partial_ilids_probe_gallery_and_lists(tmp_path):
    base = str(tmp_path / 'Partial_iLIDS')
    touch(base, 'Probe/001.jpg', 'Probe/002.jpg', 'Probe/119.jpg', 'Gallery/001.jpg',
          'Gallery/002.jpg', 'Gallery/119.jpg')
    root = str(tmp_path)
    assert [r[1:] for r in rows(PartialILIDS(data_root=root, split='query', **FAST))] == [
        (1, 0), (2, 0), (119, 0)]
    assert [r[1:] for r in rows(PartialILIDS(data_root=root, split='gallery', **FAST))] == [
        (1, 1), (2, 1), (119, 1)]
    # light-reid's list files: one path per line, relative to the dataset folder
    write(base, 'Probe.txt', 'Probe/119.jpg\nProbe/001.jpg\n')
    write(base, 'Gallery.txt', 'Gallery/001.jpg\nGallery/119.jpg\n')
    assert [r[1:] for r in rows(PartialILIDS(data_root=root, split='query', **FAST))] == [
        (119, 0), (1, 0)]


def test_p_dukemtmc_train_and_test(tmp_path):
    base = str(tmp_path / 'P-DukeMTMC-reID')
    touch(base, 'train/occluded_body_images/0005/0005_c2_f0046985.jpg',
          'train/whole_body_images/0005/0005_c5_f0051781.jpg',
          'train/whole_body_images/0005/0005_c5_f0051901.jpg',
          'train/occluded_body_images/0012/0012_c1_f0057203.jpg',
          'test/occluded_body_images/0002/0002_c2_f0044617.jpg',
          'test/whole_body_images/0002/0002_c1_f0044158.jpg',
          'test/whole_body_images/0004/0004_c3_f0046621.jpg')
    root = str(tmp_path)
    train = PDukeMTMCReID(data_root=root, split='train', **FAST)
    assert sorted((r[1], r[2]) for r in rows(train, 'label')) == [(0, 0), (0, 1), (0, 1),
                                                                  (1, 0)]
    assert [r[1:] for r in rows(PDukeMTMCReID(data_root=root, split='query', **FAST))] == [
        (2, 0)]
    assert [r[1:] for r in rows(PDukeMTMCReID(data_root=root, split='gallery', **FAST))] == [
        (2, 1), (4, 1)]


def test_p_ethz_png_folders(tmp_path):
    base = str(tmp_path / 'P_ETHZ')
    touch(base, 'occluded_body_images/1/1_01.png', 'occluded_body_images/1/1_02.png',
          'occluded_body_images/85/85_01.png', 'whole_body_images/1/1_01.png',
          'whole_body_images/85/85_03.png', 'whole_body_images/85/85_04.png')
    root = str(tmp_path)
    assert [r[1:] for r in rows(PETHZ(data_root=root, split='query', **FAST))] == [
        (1, 0), (1, 0), (85, 0)]
    assert [r[1:] for r in rows(PETHZ(data_root=root, split='gallery', **FAST))] == [
        (1, 1), (85, 1), (85, 1)]
    # the seeded 1:1 identity split: one of the two ids trains, the other tests
    train = PETHZ(data_root=root, split='train', id_split=True, **FAST)
    query = PETHZ(data_root=root, split='query', id_split=True, **FAST)
    train_ids = {train.get_data_info(i)['pid'] for i in range(len(train))}
    query_ids = {query.get_data_info(i)['pid'] for i in range(len(query))}
    assert len(train_ids) == len(query_ids) == 1 and train_ids | query_ids == {1, 85}


# -- fuzzed names -------------------------------------------------------------------------------
def strict_bbox(name, num_cams):
    """Independent reading of '<pid>_c<cam>...' names: pid is -1 or digits, cam ONE digit in
    1..num_cams not followed by another digit. Returns (pid, camid), 'junk' or None (invalid)."""
    head, sep, rest = name.partition('_c')
    if not sep or not (head == '-1' or head.isdigit()):
        return None
    if head == '-1' and rest[:1].isdigit():
        return 'junk'   # junk is ignored whatever its camera (as torchreid does)
    if not rest or not rest[0].isdigit() or (len(rest) > 1 and rest[1].isdigit()):
        return None
    cam = int(rest[0])
    if not 1 <= cam <= num_cams:
        return None
    return 'junk' if head == '-1' else (int(head), cam - 1)


_TOKENS = st.sampled_from(['0002', '-1', '0000', '1501', '7', '-0', '--1', '1-2', '_c', 'c',
                           '1', '6', '9', '10', 's1', '_', 'f0046985', '000451', '03', 'x', ''])
FUZZ_NAMES = st.one_of(
    # well-formed names of both releases
    st.builds(lambda p, c, s, f, b: f'{p}_c{c}s{s}_{f:06d}_{b:02d}',
              st.sampled_from(['-1', '0000', '0002', '1501']), st.integers(0, 12),
              st.integers(1, 6), st.integers(0, 999999), st.integers(0, 9)),
    st.builds(lambda p, c, f: f'{p}_c{c}_f{f:07d}', st.sampled_from(['0001', '0005', '7140']),
              st.integers(0, 12), st.integers(0, 9999999)),
    # fragments glued together
    st.lists(_TOKENS, min_size=1, max_size=6).map(''.join),
).filter(lambda n: n not in ('', '.', '..') and '/' not in n)


@pytest.mark.parametrize('cls,num_cams,companion', [
    (Market1501, 6, '0001_c1s1_000001_01.jpg'), (DukeMTMCReID, 8, '0001_c1_f0000001.jpg')])
@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(stem=FUZZ_NAMES, ext=st.sampled_from(['.jpg', '.JPG', '.jpeg', '.png', '.bmp', '.tif']))
def test_fuzzed_bbox_names(cls, num_cams, companion, stem, ext):
    name = stem + ext   # any image extension: parsed or refused, never skipped unseen
    want = strict_bbox(name, num_cams)
    with tempfile.TemporaryDirectory() as root:
        touch(root, 'query/' + name, 'query/' + companion)   # the split is never all junk
        try:
            ds = cls(data_root=root, split='query', **FAST)
        except DatasetFormatError as err:
            # a clear error naming the file; never for a well-formed name
            assert name in str(err), str(err)
            assert want is None, (name, want, str(err))
            return
        got = [r for r in rows(ds) if r[0] != companion or name == companion]
        assert want is not None, (name, got)   # not in the format: no silent drop or misreading
        assert got == ([] if want == 'junk' else [(name, *want)]), (name, got)


def strict_msmt(name):
    """'<pid>_<idx>_<cam>_<date+time>_<frame>_<n>.jpg' -> camid (cam in 1..15) or None."""
    parts = name[:-len('.jpg')].split('_')
    if len(parts) < 4 or not all(p.isdigit() for p in parts[:3]):
        return None
    cam = int(parts[2])
    return cam - 1 if 1 <= cam <= 15 else None


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(stem=st.one_of(
    st.builds(lambda p, i, c, t, f, n: f'{p:04d}_{i:03d}_{c:02d}_{t}_{f:04d}_{n}',
              st.integers(0, 4100), st.integers(0, 40), st.integers(0, 17),
              st.sampled_from(['0303morning', '0113noon', '0302afternoon']),
              st.integers(0, 9999), st.integers(0, 3)),
    st.lists(st.sampled_from(['0000', '_', '01', '15', '16', 'c1', '-1', 'morning', 'x']),
             min_size=1, max_size=7).map(''.join)))
def test_fuzzed_msmt17_names(stem):
    name = stem + '.jpg'
    want = strict_msmt(name)
    with tempfile.TemporaryDirectory() as root:
        base = osp.join(root, 'MSMT17_V1')
        touch(base, 'test/0000/' + name)
        write(base, 'list_query.txt', f'0000/{name} 0\n')
        try:
            ds = MSMT17(data_root=root, split='query', **FAST)
        except DatasetFormatError as err:
            assert name in str(err), str(err)
            assert want is None, (name, want, str(err))
            return
        assert want is not None, (name, rows(ds))
        assert rows(ds) == [(name, 0, want)]


def strict_body(name, folder):
    """'<pid>_<anything>' in folder '<pid>' (same integer) -> pid, else None."""
    head, sep, _ = name.partition('_')
    if not sep or not head.isdigit():
        return None
    return int(head) if int(head) == int(folder) else None


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(folder=st.sampled_from(['001', '1', '200']),
       stem=st.lists(st.sampled_from(['001', '1', '200', '002', '_', '01', 'a', '-1', '']),
                     min_size=1, max_size=4).map(''.join).filter(bool))
def test_fuzzed_occluded_reid_names(folder, stem):
    name = stem + '.tif'
    want = strict_body(name, folder)
    with tempfile.TemporaryDirectory() as root:
        touch(root, f'occluded_body_images/{folder}/{name}')
        try:
            ds = OccludedREID(data_root=root, split='query', **FAST)
        except DatasetFormatError as err:
            assert name in str(err), str(err)
            assert want is None, (name, folder, str(err))
            return
        assert want is not None, (name, folder, rows(ds))   # e.g. 002_01.tif in folder 001
        assert rows(ds) == [(name, want, 0)]


def strict_json_id(value):
    """An identity read from JSON: an integer (not a bool) or a string of digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and value.isascii():
        return int(value)
    return None


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(st.integers(0, 20000), st.booleans(), st.none(),
                       st.floats(allow_nan=True, allow_infinity=True),
                       st.text(alphabet='0123456789 .-+aeI_', max_size=6),
                       st.lists(st.integers(0, 9), max_size=2)))
def test_fuzzed_text_json_ids(value):
    """RSTPReid's "id" (pid = id): a wrong type is refused naming the file and entry, never
    truncated (1.5 -> 1) or taken from a bool."""
    want = strict_json_id(value)
    with tempfile.TemporaryDirectory() as root:
        base = osp.join(root, 'RSTPReid')
        entries = [{'id': 7, 'img_path': '0007_c1_0001.jpg', 'captions': ['a', 'b'],
                    'split': 'train'},
                   {'id': value, 'img_path': '0008_c2_0001.jpg', 'captions': ['c', 'd'],
                    'split': 'train'}]
        write(base, 'data_captions.json', json.dumps(entries))
        touch(base, *[f"imgs/{e['img_path']}" for e in entries])
        try:
            ds = RSTPReid(data_root=root, split='train', **FAST)
        except DatasetFormatError as err:
            assert 'data_captions.json' in str(err) and 'entry 1' in str(err), str(err)
            assert want is None, (value, str(err))
            return
        assert want is not None, (value, rows(ds))
        assert [r[1] for r in rows(ds)] == [7, want]


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(label=st.one_of(st.integers(-3, 5000).map(str),
                       st.text(alphabet='0123456789-+. x', min_size=1, max_size=5)))
def test_fuzzed_list_labels(label):
    """The label of an MSMT17 list line: a non-negative integer, else an error naming
    ``file:line`` (no negative identity slipping into the query set)."""
    name = '0000_000_01_0303morning_0036_1.jpg'
    lab = label.strip()   # spaces around the label only separate fields
    want = int(lab) if lab.isascii() and lab.isdigit() else None
    with tempfile.TemporaryDirectory() as root:
        base = osp.join(root, 'MSMT17_V1')
        touch(base, 'test/0000/' + name)
        write(base, 'list_query.txt', f'0000/{name} {label}\n')
        try:
            ds = MSMT17(data_root=root, split='query', **FAST)
        except DatasetFormatError as err:
            assert 'list_query.txt:1' in str(err), str(err)
            assert want is None, (label, str(err))
            return
        assert want is not None, (label, rows(ds))
        assert rows(ds) == [(name, want, 0)]
