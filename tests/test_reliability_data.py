"""Issue 21, items 4, 6, 7: no dataset file dropped without a logged reason, broken test images
found up front, annotation paths that leave the dataset folder refused (file and line)."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

import asym_plugins.data.datasets.file_layout as file_layout
from asym_plugins.data.datasets import (
    CUHKPEDES,
    ICFGPEDES,
    MSMT17,
    Market1501,
    PartialILIDS,
    RegDB,
    RSTPReid,
)
from asym_plugins.data.datasets.base import DatasetFormatError

FAST = dict(serialize_data=False)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('ASYM_CACHE_DIR', str(tmp_path / 'cache'))


@pytest.fixture
def logged(monkeypatch):
    messages = []
    monkeypatch.setattr(file_layout, 'print_log', lambda msg, **kw: messages.append(msg))
    return messages


def _img(path, seed=0, size=(32, 16)):
    rng = np.random.RandomState(seed)
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(str(path), (rng.rand(*size, 3) * 255).astype(np.uint8))
    return str(path)


def _market(root):
    base = root / 'Market-1501-v15.09.15'
    for sub, names in (('bounding_box_train', ['0002_c1s1_000451_03.jpg']),
                       ('query', ['0001_c1s1_001051_00.jpg', '0002_c2s1_000301_01.jpg']),
                       ('bounding_box_test', ['0001_c2s1_000151_01.jpg',
                                              '0002_c3s1_000101_02.jpg',
                                              '-1_c1s1_000401_03.jpg'])):
        for i, name in enumerate(names):
            _img(base / sub / name, seed=i)
    return base


def test_dangling_and_looping_symlinks_are_logged_and_counted(tmp_path, logged):
    # Before: they vanished without a log line (39 of 69 gallery images in the probe).
    base = _market(tmp_path)
    gallery = base / 'bounding_box_test'
    os.symlink(tmp_path / 'moved_away.jpg', gallery / '0003_c1s1_000001_00.jpg')
    os.symlink(gallery / '0004_c1s1_000002_00.jpg', gallery / '0004_c1s1_000001_00.jpg')
    os.symlink(gallery / '0004_c1s1_000001_00.jpg', gallery / '0004_c1s1_000002_00.jpg')
    os.symlink(gallery / '0001_c2s1_000151_01.jpg', gallery / '0001_c4s1_000151_09.jpg')  # fine
    file_layout.SKIPPED.clear()
    ds = Market1501(**FAST, data_root=str(tmp_path), split='gallery', verify_images=False)
    Market1501(**FAST, data_root=str(tmp_path), split='gallery', verify_images=False)  # twice
    assert sorted(osp.basename(d['img_path']) for d in ds.data_list) == [
        '0001_c2s1_000151_01.jpg', '0001_c4s1_000151_09.jpg', '0002_c3s1_000101_02.jpg']
    assert ds.metainfo['num_skipped'] == 3
    reasons = {osp.basename(p): r for p, r in ds.skipped}
    assert reasons['0003_c1s1_000001_00.jpg'].startswith('dangling symlink')
    assert reasons['0004_c1s1_000001_00.jpg'].startswith('symlink loop')
    assert reasons['0004_c1s1_000002_00.jpg'].startswith('symlink loop')
    for name in reasons:
        assert any(name in m and 'skipped' in m for m in logged), (name, logged)
    from asym_plugins.engine.launch import log_data_summary
    summary = log_data_summary()                      # what train.py / test.py log at the end
    assert summary == file_layout.skipped_files_summary()
    assert 'Market-1501 gallery: 2 skipped (symlink loop)' in summary
    assert 'Market-1501 gallery: 1 skipped (dangling symlink)' in summary
    assert 'Market-1501 gallery: 1 skipped (junk images (pid -1))' in summary


def _truncated_jpeg(path):
    ok, buf = cv2.imencode('.jpg', (np.random.RandomState(3).rand(64, 32, 3) * 255)
                           .astype(np.uint8))
    data = buf.tobytes()
    path.write_bytes(data[:int(len(data) * 0.6)])
    return str(path)


def test_truncated_query_image_found_at_build_time(tmp_path):
    # Before: verify_images was off, and cv2 fills a truncated JPEG with grey silently.
    base = _market(tmp_path)
    bad = _truncated_jpeg(base / 'query' / '0003_c1s1_000001_00.jpg')
    assert cv2.imread(bad) is not None                # what let it through before
    with pytest.raises(DatasetFormatError, match=r'0003_c1s1_000001_00\.jpg.*cannot be decoded'):
        Market1501(**FAST, data_root=str(tmp_path), split='query')
    # the training split is not checked by default (the loader skips broken files, counted)
    Market1501(**FAST, data_root=str(tmp_path), split='train')


def test_image_check_is_cached_by_size_and_mtime(tmp_path, monkeypatch):
    base = _market(tmp_path)
    calls = []
    real = file_layout.check_image
    monkeypatch.setattr(file_layout, 'check_image', lambda p: calls.append(p) or real(p))
    Market1501(**FAST, data_root=str(tmp_path), split='query')
    assert len(calls) == 2
    Market1501(**FAST, data_root=str(tmp_path), split='query')
    assert len(calls) == 2                            # both cached
    changed = base / 'query' / '0001_c1s1_001051_00.jpg'
    _img(changed, seed=9, size=(40, 20))              # another size: checked again
    Market1501(**FAST, data_root=str(tmp_path), split='query')
    assert calls[2:] == [osp.abspath(changed)]
    cache = json.loads((tmp_path / 'cache' / 'verified_images.json').read_text())
    assert cache[osp.abspath(changed)][0] == os.path.getsize(changed)


# -- annotation paths ------------------------------------------------------------------------
def _regdb(root, line):
    base = root / 'RegDB'
    _img(base / 'Visible' / '1' / 'male_front_v_00007_1.bmp')
    _img(base / 'Thermal' / '1' / 'male_front_t_00007_1.bmp')
    (base / 'idx').mkdir(parents=True)
    (base / 'idx' / 'test_visible_1.txt').write_text(
        'Visible/1/male_front_v_00007_1.bmp 0\n\n' + line + '\n')
    (base / 'idx' / 'test_thermal_1.txt').write_text('Thermal/1/male_front_t_00007_1.bmp 0\n')
    return base


@pytest.mark.parametrize('style', ['dotdot', 'absolute'])
def test_regdb_list_cannot_leave_the_dataset_folder(tmp_path, style):
    outside = _img(tmp_path / 'secret' / 'x.bmp')
    rel = '../secret/x.bmp' if style == 'dotdot' else outside
    base = _regdb(tmp_path, f'{rel} 1')
    with pytest.raises(DatasetFormatError, match=r'test_visible_1\.txt:3: path .* leaves the '
                                                 r'dataset folder'):
        RegDB(**FAST, data_root=str(tmp_path), split='query', verify_images=False)
    (base / 'idx' / 'test_visible_1.txt').write_text(
        'Visible/1/male_front_v_00007_1.bmp 0\nVisible/1/../1/male_front_v_00007_1.bmp 1\n')
    ds = RegDB(**FAST, data_root=str(tmp_path), split='query')    # inside: fine
    assert len(ds) == 2 and all(osp.isfile(d['img_path']) for d in ds.data_list)


def test_msmt17_list_cannot_leave_the_dataset_folder(tmp_path):
    base = tmp_path / 'MSMT17_V1'
    _img(base / 'test' / '0000' / '0000_000_01_0303morning_0036_1.jpg')
    _img(tmp_path / 'elsewhere' / '0000_000_01_0303morning_0099_1.jpg')
    (base / 'list_query.txt').write_text(
        '0000/0000_000_01_0303morning_0036_1.jpg 0\n'
        '../../elsewhere/0000_000_01_0303morning_0099_1.jpg 0\n')
    with pytest.raises(DatasetFormatError, match=r'list_query\.txt:2: path.*leaves'):
        MSMT17(**FAST, data_root=str(tmp_path), split='query', verify_images=False)


def test_partial_ilids_list_cannot_leave_the_dataset_folder(tmp_path):
    base = tmp_path / 'Partial_iLIDS'
    _img(base / 'Probe' / '001.jpg')
    _img(base / 'Gallery' / '001.jpg')
    _img(tmp_path / '002.jpg')
    (base / 'Probe.txt').write_text('Probe/001.jpg\n../002.jpg\n')
    (base / 'Gallery.txt').write_text('Gallery/001.jpg\n')
    with pytest.raises(DatasetFormatError, match=r'Probe\.txt:2: path.*leaves'):
        PartialILIDS(**FAST, data_root=str(tmp_path), split='query', verify_images=False)
    assert len(PartialILIDS(**FAST, data_root=str(tmp_path), split='gallery')) == 1


@pytest.mark.parametrize('cls, ann, key', [(CUHKPEDES, 'reid_raw.json', 'file_path'),
                                           (ICFGPEDES, 'ICFG-PEDES.json', 'file_path'),
                                           (RSTPReid, 'data_captions.json', 'img_path')])
def test_caption_json_cannot_leave_the_dataset_folder(tmp_path, cls, ann, key):
    base = tmp_path / cls.ROOT_NAMES[0]
    _img(base / 'imgs' / 'a.jpg')
    _img(tmp_path / 'outside.jpg')
    entries = [dict(split='test', captions=['a man'], id=1, **{key: 'a.jpg'}),
               dict(split='test', captions=['a woman'], id=2, **{key: '../../outside.jpg'})]
    (base / ann).write_text(json.dumps(entries, indent=1))
    line = 1 + json.dumps(entries, indent=1).split('../../outside.jpg')[0].count('\n')
    with pytest.raises(DatasetFormatError,
                       match=rf'{ann}:{line}: entry 1 \(id 2\): path.*leaves'):
        cls(**FAST, data_root=str(tmp_path), split='gallery', verify_images=False)
