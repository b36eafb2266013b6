"""Write the synthetic world to disk in the exact layout and file naming of a real dataset.

:func:`write_layout` renders every record of a :class:`SyntheticWorld` once and saves it where
the real release keeps such an image, together with the release's list / id / idx / JSON
files, so the real parsers of :mod:`asym_plugins.data.datasets` run end to end on it.

Conventions of the written data (see the parsers' docstrings for each tree):

* ``out_dir/<release folder>/...`` (e.g. ``out_dir/Market-1501-v15.09.15/bounding_box_train``):
  pass ``data_root=out_dir`` (or the release folder) to the parser.
* Part masks: every image ``<root>/<rel>.<ext>`` has its ground-truth part mask (uint8 label
  ids: 0 background, 1 head, 2 upper body, 3 lower body, 4 shoes, 5 bag, 6 occluder) at
  ``<root>/part_masks/<rel>.png``, a separate tree so a real dataset folder layout is unchanged
  and the parsers pick the masks up as ``part_mask_path``.
* World pids (>= 1) are the dataset pids, except where the release relabels (MSMT17 labels
  ``0..n-1`` per train/test part, RegDB labels ``0..n-1`` per trial part, CUHK-PEDES ids
  written 1-based as ``pid``, i.e. ``id = pid`` and the parser gives ``pid - 1``).
* Cameras: world cameras (0-based, sorted) are mapped onto the dataset's cameras with
  :func:`map_camera`: with ``C`` world cameras and ``N`` dataset cameras, world camera ``k`` of
  identity ``pid`` becomes dataset camera ``k + C * (pid mod m_k)`` where
  ``m_k = (N - 1 - k) // C + 1`` when ``C < N`` (MSMT17's 15 cameras from a 6-camera world:
  every dataset camera is used, ``dataset_cam mod C`` gives the world camera back, and all
  images of one identity from one world camera stay in one dataset camera, so the
  same-camera rule removes exactly what it removes in the world); ``k mod N`` when ``C >= N``.
  SYSU-MM01 maps visible world cameras onto cams 1, 2, 4, 5 and infrared ones onto 3, 6
  (``k``-th sorted camera of the modality -> ``k mod 4`` / ``k mod 2``). When
  :func:`write_layout` builds the world itself it gives DukeMTMC-reID 8 and MSMT17 15 world
  cameras (:data:`LAYOUT_WORLD_SETTINGS`), so the map is the identity there; it matters for a
  world passed in with fewer cameras.
* Market-1501 gets ``num_junk`` junk images (pid ``-1``: bad crops of gallery renders) and
  ``num_distractors`` distractors (pid ``0000``: upside-down gallery renders) in
  ``bounding_box_test``.
* The returned summary is also saved as ``out_dir/<release folder>.summary.json``.

Layouts and the world preset each is drawn from::

    market1501, dukemtmc, msmt17_v1, msmt17_v2      holistic
    occluded_duke, occluded_reid, p_dukemtmc, p_ethz occluded
    partial_reid, partial_ilids                      partial
    sysu_mm01, regdb                                 infrared
    cuhk_pedes, icfg_pedes, rstpreid                 text

Examples::
    >>> from asym_plugins.data.synthetic.writer import write_layout
    >>> summary = write_layout('market1501', 'data/synth', num_train_ids=6, num_test_ids=4)
    >>> summary['splits']['query']['imgs']
"""
import json
import os
import os.path as osp
import re
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

LAYOUT_PRESETS: Dict[str, str] = {
    'market1501': 'holistic', 'dukemtmc': 'holistic', 'msmt17_v1': 'holistic',
    'msmt17_v2': 'holistic', 'occluded_duke': 'occluded', 'occluded_reid': 'occluded',
    'p_dukemtmc': 'occluded', 'p_ethz': 'occluded', 'partial_reid': 'partial',
    'partial_ilids': 'partial', 'sysu_mm01': 'infrared', 'regdb': 'infrared',
    'cuhk_pedes': 'text', 'icfg_pedes': 'text', 'rstpreid': 'text'}

LAYOUT_FOLDERS: Dict[str, str] = {
    'market1501': 'Market-1501-v15.09.15', 'dukemtmc': 'DukeMTMC-reID',
    'msmt17_v1': 'MSMT17_V1', 'msmt17_v2': 'MSMT17_V2', 'occluded_duke': 'Occluded_Duke',
    'occluded_reid': 'Occluded_REID', 'partial_reid': 'Partial-REID_Dataset',
    'partial_ilids': 'Partial_iLIDS', 'p_dukemtmc': 'P-DukeMTMC-reID', 'p_ethz': 'P_ETHZ',
    'sysu_mm01': 'SYSU-MM01', 'regdb': 'RegDB', 'cuhk_pedes': 'CUHK-PEDES',
    'icfg_pedes': 'ICFG-PEDES', 'rstpreid': 'RSTPReid'}

#: dataset camera counts used by :func:`map_camera`.
LAYOUT_NUM_CAMS = {'market1501': 6, 'dukemtmc': 8, 'msmt17_v1': 15, 'msmt17_v2': 15,
                   'occluded_duke': 8, 'p_dukemtmc': 8}
#: world settings used when ``write_layout`` builds the world itself (the release's shape:
#: DukeMTMC 8 and MSMT17 15 cameras, Occluded-REID 5 + 5 and Partial-iLIDS 1 + 1 images per
#: test identity, RegDB 10 visible + 10 thermal images per identity); explicit ``sizes`` win.
LAYOUT_WORLD_SETTINGS: Dict[str, Dict] = {
    'dukemtmc': dict(num_cams=8), 'msmt17_v1': dict(num_cams=15),
    'msmt17_v2': dict(num_cams=15),
    'occluded_reid': dict(query_imgs_per_id=5, gallery_imgs_per_id=5),
    'partial_ilids': dict(query_imgs_per_id=1),
    'regdb': dict(train_imgs_per_id=10, train_ir_imgs_per_id=10, gallery_imgs_per_id=10,
                  query_imgs_per_id=10)}
#: captions kept per image (the releases: CUHK-PEDES ~2, ICFG-PEDES 1, RSTPReid 2).
CAPTIONS_PER_IMAGE = {'cuhk_pedes': 2, 'icfg_pedes': 1, 'rstpreid': 2}
PARTIAL_ILIDS_VARIANTS = ('folders', 'bpbreid', 'lists')
SYSU_VISIBLE_CAMS = (1, 2, 4, 5)
SYSU_INFRARED_CAMS = (3, 6)
REGDB_IMAGES_PER_MODALITY = 10
REGDB_TRIALS = 10
PART_MASK_DIR = 'part_masks'
WORLD_SPLITS = ('train', 'query', 'gallery')


def map_camera(world_cam_rank: int, pid: int, num_world_cams: int, num_dataset_cams: int) -> int:
    """Deterministic world camera -> dataset camera (both 0-based); see the module docstring."""
    k, C, N = world_cam_rank, num_world_cams, num_dataset_cams
    if C >= N:
        return k % N
    return k + C * (pid % ((N - 1 - k) // C + 1))


def is_occluded(rec: Dict) -> bool:
    """Whether a world record shows an occluded (or cropped) view: an occluder or a crop."""
    return (rec.get('occluder') is not None or bool(rec.get('occluded_parts'))
            or rec.get('crop') is not None)


class _SplitStats:
    def __init__(self):
        self.imgs = 0
        self.pids = set()
        self.cams = set()
        self.captions = 0

    def add(self, pid: int, camid: int, captions: int = 0):
        self.imgs += 1
        self.pids.add(int(pid))
        self.cams.add(int(camid))
        self.captions += captions

    def as_dict(self) -> Dict:
        return dict(imgs=self.imgs, pids=len(self.pids), cams=len(self.cams),
                    camids=sorted(self.cams), pid_list=sorted(self.pids),
                    captions=self.captions)


class _Plan:
    """What to render and where, plus the text files and the per-split counts."""

    def __init__(self):
        self.items: List[Tuple[Dict, str, Optional[Callable]]] = []
        self.files: Dict[str, str] = {}
        self.stats: Dict[str, _SplitStats] = defaultdict(_SplitStats)
        self.extra: Dict = {}

    def image(self, rec: Dict, rel: str, transform: Optional[Callable] = None):
        self.items.append((rec, rel, transform))

    def count(self, split: str, pid: int, camid: int, captions: int = 0):
        self.stats[split].add(pid, camid, captions)

    def text(self, rel: str, content: str):
        self.files[rel] = content


# -- world helpers -----------------------------------------------------------------------------
def _records(world, split: str) -> List[Dict]:
    return list(world.records(split))


def _world_cams(world, modality: Optional[str] = None) -> List[int]:
    """Sorted world camera ids (of ``modality``): ``world.cameras`` when the world has them."""
    cameras = getattr(world, 'cameras', None)
    if cameras and all(isinstance(c, dict) and 'camid' in c for c in cameras):
        return sorted(int(c['camid']) for c in cameras
                      if modality is None or c.get('modality', 'visible') == modality)
    cams = set()
    for split in WORLD_SPLITS:
        for r in _records(world, split):
            if modality is None or r.get('modality', 'visible') == modality:
                cams.add(int(r['camid']))
    return sorted(cams)


def _by_pid(recs: Sequence[Dict]) -> Dict[int, List[Dict]]:
    out = defaultdict(list)
    for r in recs:
        out[int(r['pid'])].append(r)
    return dict(sorted(out.items()))


def _rec_key(rec: Dict) -> str:
    """Identity of a record's image: its world ``uid`` (else its content minus split fields)."""
    if 'uid' in rec:
        return str(rec['uid'])
    return json.dumps({k: v for k, v in rec.items() if k not in ('captions', 'split', 'index')},
                      sort_keys=True, default=str)


class _CameraMap:
    def __init__(self, world, num_dataset_cams: int):
        self.cams = _world_cams(world)
        self.rank = {c: i for i, c in enumerate(self.cams)}
        self.n = num_dataset_cams

    def __call__(self, rec: Dict) -> int:
        return map_camera(self.rank[int(rec['camid'])], int(rec['pid']), len(self.cams), self.n)


# -- image transforms for Market junk / distractors --------------------------------------------
def _bad_crop(img: np.ndarray, nearest: bool) -> np.ndarray:
    H, W = img.shape[:2]
    crop = img[:max(H // 2, 1), :max(W // 2, 1)]
    return cv2.resize(crop, (W, H), interpolation=cv2.INTER_NEAREST if nearest
                      else cv2.INTER_LINEAR)


def _upside_down(img: np.ndarray, nearest: bool) -> np.ndarray:
    return np.ascontiguousarray(img[::-1])


# -- layouts ------------------------------------------------------------------------------------
def _plan_bounding_box(world, plan: _Plan, layout: str, name_fmt: Callable,
                       num_junk: int = 0, num_distractors: int = 0):
    cam_of = _CameraMap(world, LAYOUT_NUM_CAMS[layout])
    frame = iter(range(1, 10 ** 7))
    dirs = {'train': 'bounding_box_train', 'query': 'query', 'gallery': 'bounding_box_test'}
    for split, folder in dirs.items():
        for rec in _records(world, split):
            cam = cam_of(rec)
            plan.image(rec, f'{folder}/{name_fmt(str(rec["pid"]).zfill(4), cam + 1, next(frame))}')
            plan.count(split, rec['pid'], cam)
    gallery = _records(world, 'gallery')
    if gallery and (num_junk or num_distractors):
        for i in range(num_junk):
            rec = gallery[i % len(gallery)]
            plan.image(rec, f'bounding_box_test/{name_fmt("-1", cam_of(rec) + 1, next(frame))}',
                       _bad_crop)
        for i in range(num_distractors):
            rec = gallery[-1 - i % len(gallery)]
            plan.image(rec, f'bounding_box_test/{name_fmt("0000", cam_of(rec) + 1, next(frame))}',
                       _upside_down)
            plan.count('gallery', 0, cam_of(rec))
        plan.extra.update(junk=num_junk, distractors=num_distractors)


def _market_name(pid: str, cam: int, frame: int) -> str:
    return f'{pid}_c{cam}s{1 + frame % 6}_{frame:06d}_{1 + frame % 7:02d}.jpg'


def _duke_name(pid: str, cam: int, frame: int) -> str:
    return f'{pid}_c{cam}_f{frame:07d}.jpg'


def _plan_market(world, plan, num_junk=3, num_distractors=3, **_):
    _plan_bounding_box(world, plan, 'market1501', _market_name, num_junk, num_distractors)


def _plan_duke(world, plan, **_):
    _plan_bounding_box(world, plan, 'dukemtmc', _duke_name)


def _plan_occluded_duke(world, plan, **_):
    _plan_bounding_box(world, plan, 'occluded_duke', _duke_name)


def _plan_msmt(world, plan, version: str, **_):
    train_dir, test_dir = ('train', 'test') if version == 'V1' else ('mask_train_v2',
                                                                     'mask_test_v2')
    cam_of = _CameraMap(world, 15)
    lines = defaultdict(list)
    frame = iter(range(1, 10 ** 7))
    parts = (('train', train_dir, ('train',)), ('test', test_dir, ('query', 'gallery')))
    for _, folder, splits in parts:
        recs = [(s, r) for s in splits for r in _records(world, s)]
        labels = {p: i for i, p in enumerate(sorted({int(r['pid']) for _, r in recs}))}
        per_label = defaultdict(int)
        for split, rec in recs:
            label = labels[int(rec['pid'])]
            n = per_label[label]
            per_label[label] += 1
            cam = cam_of(rec)
            f = next(frame)
            time = ('0303morning', '0113noon', '0302afternoon')[f % 3]
            rel = f'{label:04d}/{label:04d}_{n:03d}_{cam + 1:02d}_{time}_{f:04d}_{f % 3}.jpg'
            plan.image(rec, f'{folder}/{rel}')
            # every 5th training image of an identity goes to list_val (never the first one)
            list_name = 'val' if split == 'train' and n % 5 == 4 else split
            lines[list_name].append(f'{rel} {label}')
            plan.count(list_name if split == 'train' else split, label, cam)
            if split == 'train':
                plan.count('train_combined', label, cam)
    for name in ('train', 'val', 'query', 'gallery'):
        plan.text(f'list_{name}.txt', ''.join(f'{line}\n' for line in lines[name]))
    plan.stats['list_train'] = plan.stats.pop('train')
    plan.stats['list_val'] = plan.stats.pop('val', _SplitStats())
    plan.stats['train'] = plan.stats.pop('train_combined')


def _plan_body_folders(world, plan, prefix: str, name_fmt: Callable, ext: str,
                       splits: Dict[str, Sequence[Tuple[str, List[Dict]]]], cam_of=None):
    """``<prefix>/<occluded|whole>_body_images/<pid>/<pid>_*.<ext>`` trees."""
    for split, groups in splits.items():
        for kind, recs in groups:
            camid = 0 if kind.endswith('occluded_body_images') else 1
            counter = defaultdict(int)
            for rec in recs:
                pid = int(rec['pid'])
                counter[pid] += 1
                cam = cam_of(rec) + 1 if cam_of else None
                name = name_fmt(pid, counter[pid], cam)
                plan.image(rec, f'{prefix}{kind}/{name.split("_")[0]}/{name}.{ext}')
                plan.count(split, pid, camid)


def _plan_occluded_reid(world, plan, **_):
    _plan_body_folders(world, plan, '', lambda pid, n, cam: f'{pid:03d}_{n:02d}', 'tif', {
        'query': [('occluded_body_images', _records(world, 'query'))],
        'gallery': [('whole_body_images', _records(world, 'gallery'))]})


def _plan_p_ethz(world, plan, **_):
    _plan_body_folders(world, plan, '', lambda pid, n, cam: f'{pid:03d}_{n:02d}', 'png', {
        'query': [('occluded_body_images', _records(world, 'query'))],
        'gallery': [('whole_body_images', _records(world, 'gallery'))]})


def _plan_p_dukemtmc(world, plan, **_):
    cam_of = _CameraMap(world, 8)
    train = _records(world, 'train')
    frame = iter(range(1, 10 ** 7))
    _plan_body_folders(
        world, plan, '', lambda pid, n, cam: f'{pid:04d}_c{cam}_f{next(frame):07d}', 'jpg', {
            'train': [('train/occluded_body_images', [r for r in train if is_occluded(r)]),
                      ('train/whole_body_images', [r for r in train if not is_occluded(r)])],
            'query': [('test/occluded_body_images', _records(world, 'query'))],
            'gallery': [('test/whole_body_images', _records(world, 'gallery'))]},
        cam_of=cam_of)


def _plan_partial_reid(world, plan, **_):
    for split, folder, camid in (('query', 'partial_body_images', 0),
                                 ('gallery', 'whole_body_images', 1)):
        for pid, recs in _by_pid(_records(world, split)).items():
            for n, rec in enumerate(recs, 1):
                plan.image(rec, f'{folder}/{pid:03d}_{n:03d}.jpg')
                plan.count(split, pid, camid)


def _plan_partial_ilids(world, plan, variant: Optional[str] = None, **_):
    variant = variant or 'folders'
    if variant not in PARTIAL_ILIDS_VARIANTS:
        raise ValueError(f'partial_ilids: variant={variant!r}; expected one of '
                         f'{PARTIAL_ILIDS_VARIANTS}.')
    folders = (('partial_body_images', 'whole_body_images') if variant == 'bpbreid'
               else ('Probe', 'Gallery'))
    for (split, camid), folder in zip((('query', 0), ('gallery', 1)), folders):
        lines = []
        for pid, recs in _by_pid(_records(world, split)).items():
            rel = f'{folder}/{pid:03d}.jpg'  # one image per identity and side
            plan.image(recs[0], rel)
            plan.count(split, pid, camid)
            lines.append(f'{rel}\n')
        if variant == 'lists':
            plan.text(f'{folder}.txt', ''.join(lines))
    plan.extra['variant'] = variant


def _plan_sysu(world, plan, seed: int = 0, **_):
    maps = {}
    for modality, cams in (('visible', SYSU_VISIBLE_CAMS), ('infrared', SYSU_INFRARED_CAMS)):
        wc = _world_cams(world, modality)
        maps[modality] = {c: cams[i % len(cams)] for i, c in enumerate(wc)}

    def cam_of(rec):
        return maps[rec.get('modality', 'visible')][int(rec['camid'])]

    train_pids = sorted({int(r['pid']) for r in _records(world, 'train')})
    val_pids = train_pids[3::4]  # every 4th training identity is listed in val_id.txt
    train_only = [p for p in train_pids if p not in set(val_pids)]
    test_recs = _records(world, 'query') + _records(world, 'gallery')
    test_pids = sorted({int(r['pid']) for r in test_recs})
    plan.text('exp/train_id.txt', ','.join(map(str, train_only)) + '\n')
    plan.text('exp/val_id.txt', ','.join(map(str, val_pids)) + '\n')
    plan.text('exp/test_id.txt', ','.join(map(str, test_pids)) + '\n')
    counter = defaultdict(int)
    for part, recs in (('train', _records(world, 'train')), ('test', test_recs)):
        for rec in recs:
            pid, cam = int(rec['pid']), cam_of(rec)
            counter[(cam, pid)] += 1
            plan.image(rec, f'cam{cam}/{pid:04d}/{counter[(cam, pid)]:04d}.jpg')
            if part == 'train':
                plan.count('train', pid, cam - 1)
            elif cam in SYSU_INFRARED_CAMS:
                plan.count('query', pid, cam - 1)
            else:
                plan.count('gallery', pid, cam - 1)
                if cam in (1, 2):
                    plan.count('gallery_indoor', pid, cam - 1)
    plan.extra.update(train_ids=len(train_only), val_ids=len(val_pids), test_ids=len(test_pids))


def regdb_trial_split(pids: Sequence[int], trial: int, seed: int = 0) -> Tuple[List[int],
                                                                                List[int]]:
    """The seeded 50/50 identity split of RegDB trial ``trial`` (1..10) used by the writer."""
    pids = np.array(sorted(set(int(p) for p in pids)))
    perm = np.random.default_rng([seed, trial]).permutation(len(pids))
    half = len(pids) // 2
    return sorted(pids[perm[:half]].tolist()), sorted(pids[perm[half:]].tolist())


def _plan_regdb(world, plan, seed: int = 0, **_):
    everything = [r for s in WORLD_SPLITS for r in _records(world, s)]
    per = defaultdict(list)
    for r in everything:  # at most 10 images per identity and modality, in record order
        key = (int(r['pid']), r.get('modality', 'visible'))
        if len(per[key]) < REGDB_IMAGES_PER_MODALITY:
            per[key].append(r)
    rels = defaultdict(list)
    n = iter(range(1, 10 ** 6))
    for (pid, modality), recs in sorted(per.items()):
        for rec in recs:
            folder, tag = ('Thermal', 't') if modality == 'infrared' else ('Visible', 'v')
            gender = rec.get('gender') if rec.get('gender') in ('male', 'female') else 'male'
            view = re.sub(r'[^a-z]', '', str(rec.get('view', 'front')).lower()) or 'front'
            rel = f'{folder}/{pid}/{gender}_{view}_{tag}_{next(n):05d}_{pid}.bmp'
            plan.image(rec, rel)
            rels[(pid, folder.lower())].append(rel)
    pids = sorted({p for p, _ in per})
    trials = {}
    for t in range(1, REGDB_TRIALS + 1):
        train_p, test_p = regdb_trial_split(pids, t, seed)
        info = dict(train_ids=len(train_p), test_ids=len(test_p))
        for part, part_pids in (('train', train_p), ('test', test_p)):
            labels = {p: i for i, p in enumerate(part_pids)}
            for mod in ('visible', 'thermal'):
                lines = [f'{rel} {labels[p]}\n' for p in part_pids for rel in rels[(p, mod)]]
                plan.text(f'idx/{part}_{mod}_{t}.txt', ''.join(lines))
                info[f'{part}_{mod}'] = len(lines)
        trials[t] = info
        if t == 1:  # the summary's splits: trial 1, visible -> thermal
            for part, part_pids in (('train', train_p), ('test', test_p)):
                labels = {p: i for i, p in enumerate(part_pids)}
                for p in part_pids:
                    for mod, camid in (('visible', 0), ('thermal', 1)):
                        split = 'train' if part == 'train' else ('query' if camid == 0
                                                                  else 'gallery')
                        for _ in rels[(p, mod)]:
                            plan.count(split, labels[p], camid)
    plan.extra['trials'] = trials


def _text_test_records(world) -> List[Dict]:
    """Distinct test images: gallery records plus query records showing another image.

    Query records that render the same image as a gallery record lend it their captions.
    """
    merged: Dict[str, Dict] = {}
    for split in ('gallery', 'query'):
        for rec in _records(world, split):
            key = _rec_key(rec)
            if key not in merged:
                merged[key] = dict(rec)
            elif not merged[key].get('captions') and rec.get('captions'):
                merged[key]['captions'] = rec['captions']
    return list(merged.values())


def _plan_text(world, plan, layout: str, **_):
    k = CAPTIONS_PER_IMAGE[layout]
    entries = []
    n = iter(range(1, 10 ** 7))
    for part, recs in (('train', _records(world, 'train')), ('test', _text_test_records(world))):
        per_pid = defaultdict(int)
        for rec in recs:
            pid = int(rec['pid'])
            per_pid[pid] += 1
            i, j = per_pid[pid], next(n)
            if layout == 'cuhk_pedes':
                rel = (f'CUHK01/{pid:04d}{i:03d}.png' if part == 'train'
                       else f'test_query/p{pid}_s{j}.jpg')
            elif layout == 'icfg_pedes':
                rel = f'{part}/{pid:04d}/{pid:04d}_{i:03d}_01_0303morning_{j:04d}_0.jpg'
            else:
                rel = f'{pid}_c{1 + j % 15}_{i:04d}.jpg'
            captions = [str(c) for c in (rec.get('captions') or [])][:k]
            entry = {'split': part, 'captions': captions, 'id': pid}
            entry['img_path' if layout == 'rstpreid' else 'file_path'] = rel
            if layout == 'cuhk_pedes':
                entry['processed_tokens'] = [re.findall(r"[a-z0-9']+", c.lower())
                                             for c in captions]
            entries.append(entry)
            plan.image(rec, f'imgs/{rel}')
            pid_out = pid - 1 if layout == 'cuhk_pedes' else pid
            if part == 'train':
                plan.count('train', pid_out, 0, len(captions))
            else:
                plan.count('query', pid_out, 0, len(captions))
                plan.count('gallery', pid_out, 0)
    ann = {'cuhk_pedes': 'reid_raw.json', 'icfg_pedes': 'ICFG-PEDES.json',
           'rstpreid': 'data_captions.json'}[layout]
    plan.text(ann, json.dumps(entries, indent=1))


_PLANNERS: Dict[str, Callable] = {
    'market1501': _plan_market, 'dukemtmc': _plan_duke,
    'msmt17_v1': lambda w, p, **kw: _plan_msmt(w, p, 'V1', **kw),
    'msmt17_v2': lambda w, p, **kw: _plan_msmt(w, p, 'V2', **kw),
    'occluded_duke': _plan_occluded_duke, 'occluded_reid': _plan_occluded_reid,
    'partial_reid': _plan_partial_reid, 'partial_ilids': _plan_partial_ilids,
    'p_dukemtmc': _plan_p_dukemtmc, 'p_ethz': _plan_p_ethz, 'sysu_mm01': _plan_sysu,
    'regdb': _plan_regdb,
    'cuhk_pedes': lambda w, p, **kw: _plan_text(w, p, 'cuhk_pedes', **kw),
    'icfg_pedes': lambda w, p, **kw: _plan_text(w, p, 'icfg_pedes', **kw),
    'rstpreid': lambda w, p, **kw: _plan_text(w, p, 'rstpreid', **kw)}
LAYOUTS: Tuple[str, ...] = tuple(_PLANNERS)


def _imwrite(path: str, img: np.ndarray):
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, img):
        raise OSError(f'write_layout: cv2.imwrite could not write {path!r}.')


def write_layout(layout: str, out_dir: str, world=None, preset: Optional[str] = None,
                 seed: int = 0, *, variant: Optional[str] = None, num_junk: int = 3,
                 num_distractors: int = 3, progress: bool = False, **sizes) -> Dict:
    """Render ``world`` into ``out_dir/<release folder>`` in the layout of dataset ``layout``.

    Args:
        layout: one of :data:`LAYOUTS` (``'market1501'``, ``'msmt17_v2'``, ``'regdb'``...).
        out_dir: parent folder; the data goes to ``out_dir/<LAYOUT_FOLDERS[layout]>``.
        world: a :class:`~asym_plugins.data.synthetic.SyntheticWorld`; built from ``preset``
            (default :data:`LAYOUT_PRESETS` ``[layout]``), ``seed``,
            :data:`LAYOUT_WORLD_SETTINGS` ``[layout]`` and ``sizes`` when None.
        preset: world preset when ``world`` is None.
        seed: world seed, also the seed of RegDB's trial splits.
        variant: Partial-iLIDS layout: ``'folders'`` (default), ``'bpbreid'`` or ``'lists'``.
        num_junk, num_distractors: Market-1501 junk (pid -1) and distractor (pid 0) images.
        progress: show a tqdm progress bar.
        **sizes: ``SyntheticWorld`` arguments (``num_train_ids``, ``num_test_ids``,
            ``img_size``, or any preset key such as ``gallery_imgs_per_id``).

    Returns:
        dict with ``layout``, ``preset``, ``data_root`` (= ``out_dir``), ``dataset_root``,
        ``num_written`` (images), ``splits`` (per split: ``imgs``, ``pids``, ``cams``,
        ``camids`` (0-based, as the parser stores them), ``pid_list``, ``captions``; names as the
        parser's splits: 'train', 'query', 'gallery', plus layout-specific ones such as
        MSMT17's 'list_train'/'list_val' and SYSU's 'gallery_indoor'), and layout extras
        (Market ``junk``/``distractors``, SYSU ``train_ids``/``val_ids``/``test_ids``, RegDB
        ``trials``), and ``world`` (``seed`` and the settings the world was built with, when
        it was built here). RegDB's 'train'/'query'/'gallery' are trial 1, visible -> thermal.
    """
    if layout not in _PLANNERS:
        raise ValueError(f'write_layout: unknown layout {layout!r}; expected one of {LAYOUTS}.')
    settings = None
    if world is None:
        from asym_plugins.data.synthetic import SyntheticWorld
        settings = dict(LAYOUT_WORLD_SETTINGS.get(layout, {}), **sizes)
        world = SyntheticWorld(preset=preset or LAYOUT_PRESETS[layout], seed=seed, **settings)
    elif sizes or preset:
        raise ValueError('write_layout: pass either a world or preset/sizes to build one.')
    plan = _Plan()
    _PLANNERS[layout](world, plan, seed=seed, variant=variant, num_junk=num_junk,
                      num_distractors=num_distractors)
    root = osp.join(out_dir, LAYOUT_FOLDERS[layout])
    os.makedirs(root, exist_ok=True)
    for rel, content in plan.files.items():
        path = osp.join(root, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(content)
    items = plan.items
    if progress:
        from tqdm import tqdm
        items = tqdm(items, desc=f'{layout}', unit='img')
    cache: Dict[int, Dict] = {}
    for rec, rel, transform in items:
        out = cache.get(id(rec))
        if out is None:
            out = world.render(rec)
            cache.clear()  # consecutive items may share a record (Market junk): keep the last
            cache[id(rec)] = out
        img, mask = out['img'], out['mask']
        if transform is not None:
            img, mask = transform(img, False), transform(mask, True)
        if img.ndim == 3:
            img = img[..., ::-1]  # RGB -> BGR for OpenCV
        _imwrite(osp.join(root, rel), np.ascontiguousarray(img))
        _imwrite(osp.join(root, PART_MASK_DIR, osp.splitext(rel)[0] + '.png'),
                 np.ascontiguousarray(mask))
    summary = dict(layout=layout, preset=getattr(world, 'preset', preset or LAYOUT_PRESETS[layout]),
                   data_root=out_dir, dataset_root=root, num_written=len(plan.items),
                   splits={k: v.as_dict() for k, v in plan.stats.items()})
    summary.update(plan.extra)
    if settings is not None:  # how the world was built, so a reader can tell a stale folder
        summary['world'] = dict(seed=seed, **{k: list(v) if isinstance(v, tuple) else v
                                              for k, v in sorted(settings.items())})
    # beside the release folder, so the folder itself holds only what the release holds
    with open(root + '.summary.json', 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=1)
    return summary


def format_summary(summary: Dict) -> str:
    """A short table of the per-split counts of a :func:`write_layout` summary."""
    lines = [f"{summary['layout']} ({summary['preset']} world) -> {summary['dataset_root']}: "
             f"{summary['num_written']} images"]
    for name, s in summary['splits'].items():
        cap = f", {s['captions']} captions" if s.get('captions') else ''
        lines.append(f"  {name:<15} {s['pids']:>5} ids {s['imgs']:>7} images "
                     f"{s['cams']:>3} cams{cap}")
    for key in ('junk', 'distractors', 'train_ids', 'val_ids', 'test_ids', 'variant'):
        if key in summary:
            lines.append(f'  {key}: {summary[key]}')
    if 'trials' in summary:
        t = summary['trials']
        lines.append(f"  trials: {len(t)} (trial 1: {t[1]['train_ids']} train ids / "
                     f"{t[1]['test_ids']} test ids)")
    return '\n'.join(lines)
