"""The synthetic layout writer: exact file naming, list/id/idx/JSON files, masks, summaries."""
import importlib.util
import json
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest

from asym_plugins.data.synthetic import SyntheticWorld
from asym_plugins.data.synthetic.writer import (
    LAYOUT_FOLDERS,
    LAYOUT_PRESETS,
    LAYOUT_WORLD_SETTINGS,
    LAYOUTS,
    format_summary,
    map_camera,
    write_layout,
)

SIZE = dict(num_train_ids=6, num_test_ids=4, img_size=(32, 16))
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# Every image path (relative to the release folder) must match its release's naming.
NAMES = {
    'market1501': r'(bounding_box_train|query|bounding_box_test)/(-1|\d{4})_c[1-6]s\d_\d{6}_\d{2}'
                  r'\.jpg',
    'dukemtmc': r'(bounding_box_train|query|bounding_box_test)/\d{4}_c[1-8]_f\d{7}\.jpg',
    'occluded_duke': r'(bounding_box_train|query|bounding_box_test)/\d{4}_c[1-8]_f\d{7}\.jpg',
    'msmt17_v1': r'(train|test)/(\d{4})/\2_\d{3}_(0[1-9]|1[0-5])_\d{4}(morning|noon|afternoon)'
                 r'_\d{4}_\d\.jpg',
    'msmt17_v2': r'(mask_train_v2|mask_test_v2)/(\d{4})/\2_\d{3}_(0[1-9]|1[0-5])_\d{4}'
                 r'(morning|noon|afternoon)_\d{4}_\d\.jpg',
    'occluded_reid': r'(occluded_body_images|whole_body_images)/(\d{3})/\2_\d{2}\.tif',
    'p_ethz': r'(occluded_body_images|whole_body_images)/(\d{3})/\2_\d{2}\.png',
    'p_dukemtmc': r'(train|test)/(occluded_body_images|whole_body_images)/(\d{4})/\3_c[1-8]'
                  r'_f\d{7}\.jpg',
    'partial_reid': r'(partial_body_images|whole_body_images)/\d{3}_\d{3}\.jpg',
    'partial_ilids': r'(Probe|Gallery)/\d{3}\.jpg',
    'sysu_mm01': r'cam[1-6]/\d{4}/\d{4}\.jpg',
    'regdb': r'(Visible/(\d+)/(male|female)_[a-z]+_v|Thermal/(\d+)/(male|female)_[a-z]+_t)'
             r'_\d{5}_(\d+)\.bmp',
    'cuhk_pedes': r'imgs/(CUHK01/\d{7}\.png|test_query/p\d+_s\d+\.jpg)',
    'icfg_pedes': r'imgs/(train|test)/(\d{4})/\2_\d{3}_01_0303morning_\d{4}_0\.jpg',
    'rstpreid': r'imgs/\d+_c\d+_\d{4}\.jpg',
}
TEXT_FILES = {
    'msmt17_v1': ['list_train.txt', 'list_val.txt', 'list_query.txt', 'list_gallery.txt'],
    'msmt17_v2': ['list_train.txt', 'list_val.txt', 'list_query.txt', 'list_gallery.txt'],
    'sysu_mm01': ['exp/train_id.txt', 'exp/val_id.txt', 'exp/test_id.txt'],
    'regdb': [f'idx/{p}_{m}_{t}.txt' for p in ('train', 'test') for m in ('visible', 'thermal')
              for t in range(1, 11)],
    'cuhk_pedes': ['reid_raw.json'], 'icfg_pedes': ['ICFG-PEDES.json'],
    'rstpreid': ['data_captions.json']}


def world_for(layout, seed=0):
    """The world write_layout builds for ``layout`` (same preset, settings and seed)."""
    return SyntheticWorld(LAYOUT_PRESETS[layout], seed=seed,
                          **dict(LAYOUT_WORLD_SETTINGS.get(layout, {}), **SIZE))


def expected_images(layout, world):
    """Number of images the layout must hold, from the world records alone."""
    tr, q, g = (world.records(s) for s in ('train', 'query', 'gallery'))
    if layout == 'market1501':
        return len(tr) + len(q) + len(g) + 3 + 3  # default junk + distractors
    if layout in ('occluded_reid', 'p_ethz', 'partial_reid'):
        return len(q) + len(g)
    if layout == 'partial_ilids':
        return len({r['pid'] for r in q}) + len({r['pid'] for r in g})
    if layout == 'regdb':
        per = {}
        for r in tr + q + g:
            per[(r['pid'], r['modality'])] = per.get((r['pid'], r['modality']), 0) + 1
        return sum(min(10, n) for n in per.values())
    if LAYOUT_PRESETS[layout] == 'text':
        return len(tr) + len({r['uid'] for r in q + g})
    return len(tr) + len(q) + len(g)


def image_files(root):
    out = []
    for dirpath, _, files in os.walk(root):
        rel_dir = osp.relpath(dirpath, root)
        if rel_dir.split(os.sep)[0] == 'part_masks':
            continue
        out += [osp.normpath(osp.join(rel_dir, f)) for f in files
                if f.lower().endswith(('.jpg', '.png', '.tif', '.bmp'))]
    return sorted(out)


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('layouts'))
    return out, {layout: write_layout(layout, out, seed=0, **SIZE) for layout in LAYOUTS}


@pytest.mark.parametrize('layout', LAYOUTS)
def test_layout_names_masks_and_counts(written, layout):
    out, summaries = written
    summary = summaries[layout]
    root = osp.join(out, LAYOUT_FOLDERS[layout])
    assert summary['dataset_root'] == root and summary['layout'] == layout
    files = image_files(root)
    pattern = re.compile(NAMES[layout] + '$')
    bad = [f for f in files if not pattern.match(f.replace(os.sep, '/'))]
    assert not bad, bad[:5]
    world = world_for(layout)
    assert len(files) == summary['num_written'] == expected_images(layout, world)
    for rel in TEXT_FILES.get(layout, []):
        assert osp.isfile(osp.join(root, rel)), rel
    for rel in files[::max(1, len(files) // 12)]:
        img = cv2.imread(osp.join(root, rel), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(osp.join(root, 'part_masks', osp.splitext(rel)[0] + '.png'),
                          cv2.IMREAD_UNCHANGED)
        assert img is not None and img.ndim == 3 and mask is not None
        assert mask.shape == img.shape[:2] and mask.max() <= 6
    with open(root + '.summary.json') as f:
        assert json.load(f)['num_written'] == summary['num_written']
    text = format_summary(summary)
    assert layout in text and 'images' in text


def test_market_junk_distractors_and_cameras(written):
    out, s = written
    names = os.listdir(osp.join(out, 'Market-1501-v15.09.15', 'bounding_box_test'))
    assert sum(n.startswith('-1_') for n in names) == s['market1501']['junk'] == 3
    assert sum(n.startswith('0000_') for n in names) == s['market1501']['distractors'] == 3
    world = world_for('market1501')
    g = world.records('gallery')
    assert s['market1501']['splits']['gallery']['imgs'] == len(g) + 3
    assert s['market1501']['splits']['gallery']['pids'] == len({r['pid'] for r in g}) + 1


@pytest.mark.parametrize('layout', ['msmt17_v1', 'msmt17_v2'])
def test_msmt17_list_files(written, layout):
    out, _ = written
    root = osp.join(out, LAYOUT_FOLDERS[layout])
    world = world_for(layout)
    line = re.compile(r'^(\d{4})/\1_\d{3}_\d{2}_\w+_\d{4}_\d\.jpg (\d+)$')
    lists = {}
    for name in ('train', 'val', 'query', 'gallery'):
        with open(osp.join(root, f'list_{name}.txt')) as f:
            rows = [ln.rstrip('\n') for ln in f if ln.strip()]
        for row in rows:
            m = line.match(row)
            assert m and int(m.group(1)) == int(m.group(2)), row
        lists[name] = rows
    train = world.records('train')
    assert len(lists['train']) + len(lists['val']) == len(train)
    train_labels = {int(r.split()[1]) for r in lists['train']}
    assert train_labels == set(range(len({r['pid'] for r in train})))
    test_labels = {int(r.split()[1]) for r in lists['query'] + lists['gallery']}
    assert test_labels == set(range(SIZE['num_test_ids']))  # test labels restart at 0
    cams = {int(r.split('_')[2]) for r in lists['train'] + lists['val']}
    assert cams == {r['camid'] + 1 for r in train}  # a 15-camera world keeps its cameras


def test_sysu_id_files(written):
    out, _ = written
    root = osp.join(out, 'SYSU-MM01')
    ids = {}
    for name in ('train', 'val', 'test'):
        with open(osp.join(root, 'exp', f'{name}_id.txt')) as f:
            text = f.read()
        assert re.fullmatch(r'\d+(,\d+)*\n', text), text
        ids[name] = [int(t) for t in text.split(',')]
    world = world_for('sysu_mm01')
    assert set(ids['train']) | set(ids['val']) == set(world.pids('train'))
    assert not set(ids['train']) & set(ids['val'])
    assert set(ids['test']) == set(world.pids('query'))
    for rel in image_files(root):
        cam = int(rel.split(os.sep)[0][3:])
        assert cam in ((3, 6) if 'infrared' in _modality_of(root, rel) else (1, 2, 4, 5))


def _modality_of(root, rel):
    img = cv2.imread(osp.join(root, rel))
    gray = bool(np.all(img[..., 0] == img[..., 1]) and np.all(img[..., 1] == img[..., 2]))
    return 'infrared' if gray else 'visible'


def test_regdb_idx_files(written):
    out, s = written
    root = osp.join(out, 'RegDB')
    world = world_for('regdb')
    pids = set(world.pids('train')) | set(world.pids('query'))
    line = re.compile(r'^(Visible|Thermal)/(\d+)/\S+\.bmp (\d+)$')
    for t in range(1, 11):
        split_pids = {}
        for part in ('train', 'test'):
            folder_ids = {}
            for mod in ('visible', 'thermal'):
                with open(osp.join(root, 'idx', f'{part}_{mod}_{t}.txt')) as f:
                    rows = [ln.strip() for ln in f if ln.strip()]
                for row in rows:
                    m = line.match(row)
                    assert m and m.group(1).lower() == mod, row
                    assert osp.isfile(osp.join(root, row.split()[0]))
                    folder_ids.setdefault(int(m.group(2)), set()).add(int(m.group(3)))
                    assert all(len(v) == 1 for v in folder_ids.values())
                assert len(rows) == 10 * len({int(line.match(r).group(2)) for r in rows})
            split_pids[part] = set(folder_ids)
            labels = {next(iter(v)) for v in folder_ids.values()}
            assert labels == set(range(len(folder_ids)))
        assert not split_pids['train'] & split_pids['test']
        assert split_pids['train'] | split_pids['test'] == pids
        assert len(split_pids['train']) == len(pids) // 2
        assert s['regdb']['trials'][t]['train_ids'] == len(pids) // 2


@pytest.mark.parametrize('layout,key,k', [('cuhk_pedes', 'file_path', 2),
                                          ('icfg_pedes', 'file_path', 1),
                                          ('rstpreid', 'img_path', 2)])
def test_text_annotations(written, layout, key, k):
    out, s = written
    root = osp.join(out, LAYOUT_FOLDERS[layout])
    ann = {'cuhk_pedes': 'reid_raw.json', 'icfg_pedes': 'ICFG-PEDES.json',
           'rstpreid': 'data_captions.json'}[layout]
    with open(osp.join(root, ann)) as f:
        entries = json.load(f)
    world = world_for(layout)
    for e in entries:
        assert {'split', 'captions', 'id', key} <= set(e)
        assert e['split'] in ('train', 'test') and e['id'] >= 1
        assert 1 <= len(e['captions']) <= k
        assert osp.isfile(osp.join(root, 'imgs', e[key]))
        if layout == 'cuhk_pedes':
            assert len(e['processed_tokens']) == len(e['captions'])
    if layout == 'rstpreid':
        assert all('file_path' not in e for e in entries)
    train = world.records('train')
    assert sum(e['split'] == 'train' for e in entries) == len(train)
    n_caps = sum(len(e['captions']) for e in entries if e['split'] == 'test')
    assert n_caps == s[layout]['splits']['query']['captions']
    test = {r['uid']: r for r in world.records('gallery')}
    assert n_caps == sum(min(k, len(r['captions'])) for r in test.values())


def test_map_camera_properties():
    for C, N in ((6, 15), (6, 8), (8, 8), (15, 6)):
        used = set()
        for pid in range(1, 40):
            cams = [map_camera(k, pid, C, N) for k in range(C)]
            assert all(0 <= c < N for c in cams)
            if C <= N:
                assert len(set(cams)) == C and all(c % C == k for k, c in enumerate(cams))
            used |= set(cams)
        assert used == set(range(N))
        assert map_camera(2, 7, C, N) == map_camera(2, 7, C, N)


def test_deterministic(tmp_path):
    a = write_layout('partial_reid', str(tmp_path / 'a'), seed=3, **SIZE)
    b = write_layout('partial_reid', str(tmp_path / 'b'), seed=3, **SIZE)
    fa, fb = image_files(a['dataset_root']), image_files(b['dataset_root'])
    assert fa == fb
    ia = cv2.imread(osp.join(a['dataset_root'], fa[0]))
    ib = cv2.imread(osp.join(b['dataset_root'], fb[0]))
    assert np.array_equal(ia, ib)


def test_world_passed_in_and_bad_arguments(tmp_path):
    world = SyntheticWorld('holistic', seed=0, **SIZE)
    s = write_layout('dukemtmc', str(tmp_path), world=world)  # 6 world cams -> Duke's 8
    assert s['splits']['train']['imgs'] == len(world.records('train'))
    assert max(s['splits']['train']['camids']) < 8
    with pytest.raises(ValueError, match='unknown layout'):
        write_layout('market', str(tmp_path))
    with pytest.raises(ValueError, match='either a world'):
        write_layout('dukemtmc', str(tmp_path), world=world, num_train_ids=3)
    with pytest.raises(ValueError, match='variant'):
        write_layout('partial_ilids', str(tmp_path), variant='probe', **SIZE)


def test_make_synthetic_cli(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'make_synthetic', osp.join(ROOT, 'tools', 'make_synthetic.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rc = tool.main(['--layout', 'partial_ilids', '--out', str(tmp_path), '--seed', '1',
                    '--num-train-ids', '2', '--num-test-ids', '3', '--img-size', '32', '16'])
    assert rc == 0
    printed = capsys.readouterr().out
    assert re.search(r'query\s+3 ids\s+3 images', printed), printed
    assert re.search(r'gallery\s+3 ids\s+3 images', printed), printed
    assert len(os.listdir(tmp_path / 'Partial_iLIDS' / 'Probe')) == 3


def test_make_synthetic_gallery_imgs_per_id(tmp_path):
    """``tools/make_synthetic.py --gallery-imgs-per-id`` reaches the world: a SYSU-like pool."""
    spec = importlib.util.spec_from_file_location(
        'make_synthetic', osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools',
                                   'make_synthetic.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main(['--layout', 'sysu_mm01', '--out', str(tmp_path), '--num-train-ids', '4',
               '--num-test-ids', '3', '--img-size', '32', '16', '--gallery-imgs-per-id', '7', '7',
               '--no-progress'])
    summary = json.load(open(tmp_path / 'SYSU-MM01.summary.json'))
    assert summary['splits']['gallery']['imgs'] == 3 * 7
