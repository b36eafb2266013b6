"""``SyntheticWorld``: identities, cameras and the train / query / gallery splits of a scenario.

Examples::
    >>> from asym_plugins.data.synthetic import SyntheticWorld
    >>> world = SyntheticWorld('occluded', seed=0, num_train_ids=6, num_test_ids=4)
    >>> q = world.records('query')[0]
    >>> q['pid'] > 6, q['occluder'] is not None
    (True, True)
    >>> out = world.render(q)
    >>> out['img'].shape, out['mask'].shape
    ((128, 64, 3), (128, 64))
"""
import copy
import pickle
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .body import MATERIAL_TO_PART
from .captions import make_captions
from .identities import sample_identities
from .occluders import sample_occluder
from .palette import PART_NAMES
from .presets import PRESETS, preset_config
from .render import Renderer, crop_pixels, part_coverage, person_materials, placement
from .scenes import make_camera

SPLITS = ('train', 'query', 'gallery')
# Bumped whenever planning or rendering changes what a (preset, seed, settings) world looks like:
# caches of rendered worlds (e.g. the torchreid datasets' folders) include it in their key.
# 2: near-infrared rendering (reflectance per dye) instead of thermal.
WORLD_VERSION = 2
# SYSU-MM01 cameras 1..6 (stored 0-based): modality and environment.
SYSU_CAMERAS = (('visible', 'indoor'), ('visible', 'indoor'), ('infrared', 'indoor'),
                ('visible', 'outdoor'), ('visible', 'outdoor'), ('infrared', 'outdoor'))
VIEW_P = (0.4, 0.35, 0.25)   # front, back, side
VIEWS = ('front', 'back', 'side')
# Random streams of a world seed.
_IDS, _CAMS, _DISTRACTORS, _PLAN = 1, 2, 3, 4

Range = Union[int, Tuple[int, int]]


def _range(value: Range, key: str) -> Tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] <= value[1]:
        return int(value[0]), int(value[1])
    raise ValueError(f'SyntheticWorld: {key}={value!r}; expected an int or (low, high).')


class SyntheticWorld:
    """A procedural Re-ID world of one scenario, deterministic from ``seed``.

    Args:
        preset: ``'holistic'``, ``'occluded'``, ``'partial'``, ``'infrared'`` or ``'text'``
            (see :mod:`.presets` for what each holds).
        seed: world seed: identities, cameras, splits and every image derive from it.
        num_train_ids / num_test_ids: override the preset's identity counts.
        img_size: (H, W) of rendered images; Re-ID images are portrait 2:1.
        **overrides: any other key of :data:`PRESETS` (e.g. ``train_imgs_per_id=(4, 6)``).

    Records (:meth:`records`) are plain JSON-able dicts, cheap to plan (no image is drawn; only
    occluded and partial queries rasterise geometry to record what they hide). Keys: ``uid``
    (unique in the world), ``index`` (position in its split), ``split``, ``pid`` (>= 1),
    ``camid`` (0-based), ``modality`` (``'visible'`` | ``'infrared'``), ``view`` (``'front'``
    | ``'back'`` | ``'side'``), ``scene`` (placement and camera jitter), ``occluder`` (spec or
    ``None``), ``occluded_parts`` (names of parts whose pixels are at least half hidden),
    ``crop`` (``None`` or ``dict(region, box)`` in frame fractions), ``visible_box``
    (``[x0, y0, x1, y1]`` pixels of the uncropped frame, end exclusive; the whole frame unless
    cropped), ``visible_parts`` (cropped records only), ``captions`` (when enabled).
    """

    def __init__(self, preset: str = 'holistic', seed: int = 0,
                 num_train_ids: Optional[int] = None, num_test_ids: Optional[int] = None,
                 img_size: Sequence[int] = (128, 64), **overrides):
        cfg = preset_config(preset)
        unknown = sorted(set(overrides) - set(cfg))
        if unknown:
            raise TypeError(f'SyntheticWorld: unknown setting(s) {unknown}; valid keys: '
                            f'{sorted(cfg)} (see asym_plugins/data/synthetic/presets.py).')
        cfg.update(overrides)
        if num_train_ids is not None:
            cfg['num_train_ids'] = int(num_train_ids)
        if num_test_ids is not None:
            cfg['num_test_ids'] = int(num_test_ids)
        if cfg['num_train_ids'] < 1 or cfg['num_test_ids'] < 1:
            raise ValueError('SyntheticWorld: num_train_ids and num_test_ids must be >= 1, got '
                             f"{cfg['num_train_ids']} and {cfg['num_test_ids']}.")
        if len(img_size) != 2 or min(img_size) < 16:
            raise ValueError(f'SyntheticWorld: img_size={img_size!r}; expected (H, W) >= 16.')
        self.preset = preset
        self.seed = int(seed)
        self.config = cfg
        self.img_size = (int(img_size[0]), int(img_size[1]))
        self.num_train_ids = cfg['num_train_ids']
        self.num_test_ids = cfg['num_test_ids']

        n_ids = self.num_train_ids + self.num_test_ids
        self._identities = sample_identities(np.random.default_rng([self.seed, _IDS]), n_ids,
                                             min_distance=cfg['min_id_distance'])
        self._distractors = sample_identities(
            np.random.default_rng([self.seed, _DISTRACTORS]), cfg['num_distractors'],
            min_distance=0)
        self.cameras = self._make_cameras()
        self._renderer = Renderer(self.cameras, self.img_size, noise_seed=self.seed)
        self._splits: Optional[Dict[str, List[Dict]]] = None

    # -- public API -----------------------------------------------------------------------
    def records(self, split: str) -> List[Dict]:
        """The records of ``split`` (a fresh copy; planned once, deterministic)."""
        if split not in SPLITS:
            raise ValueError(f'SyntheticWorld.records: split={split!r}; expected one of '
                             f'{SPLITS}.')
        if self._splits is None:
            self._splits = self._plan()
        # A pickle round trip is a deep copy, several times faster than copy.deepcopy.
        return pickle.loads(pickle.dumps(self._splits[split], pickle.HIGHEST_PROTOCOL))

    def render(self, rec: Dict) -> Dict[str, np.ndarray]:
        """Render a record: ``dict(img=uint8 HxWx3 RGB, mask=uint8 HxW part labels)``.

        Pure function of the record and the world: the same record gives the same pixels.
        Changing ``rec['modality']`` renders the same moment in the other modality.
        """
        return self._renderer.render(rec, self._identity(rec['pid']), self._distractors)

    def attributes(self, pid: int) -> Dict:
        """The attributes of identity ``pid`` (a copy)."""
        return copy.deepcopy(self._identity(pid))

    def pids(self, split: str) -> List[int]:
        """Sorted identities of ``split`` (query and gallery share the test identities)."""
        if split == 'train':
            return list(range(1, self.num_train_ids + 1))
        return list(range(self.num_train_ids + 1, self.num_train_ids + self.num_test_ids + 1))

    def __repr__(self) -> str:
        return (f'SyntheticWorld(preset={self.preset!r}, seed={self.seed}, '
                f'num_train_ids={self.num_train_ids}, num_test_ids={self.num_test_ids}, '
                f'img_size={self.img_size})')

    # -- internals ------------------------------------------------------------------------
    def _identity(self, pid: int) -> Dict:
        if not 1 <= int(pid) <= len(self._identities):
            raise KeyError(f'SyntheticWorld: no identity {pid}; pids are 1..'
                           f'{len(self._identities)}.')
        return self._identities[int(pid) - 1]

    def _make_cameras(self) -> List[Dict]:
        cfg = self.config
        if cfg['cameras'] == 'sysu':
            layout = SYSU_CAMERAS
        elif cfg['cameras'] == 'market':
            layout = tuple(('visible', 'indoor' if k % 2 == 0 else 'outdoor')
                           for k in range(int(cfg['num_cams'])))
        else:
            raise ValueError(f"SyntheticWorld: cameras={cfg['cameras']!r}; expected 'market' "
                             "or 'sysu'.")
        return [make_camera(np.random.default_rng([self.seed, _CAMS, k]), k, mod, env)
                for k, (mod, env) in enumerate(layout)]

    def _cams(self, modality: str) -> List[int]:
        return [c['camid'] for c in self.cameras if c['modality'] == modality]

    def _record(self, rng: np.random.Generator, pid: int, camid: int, split: str,
                track_view: str) -> Dict:
        cam = self.cameras[camid]
        if rng.random() < self.config['view_consistency']:
            view = track_view
        else:
            view = VIEWS[int(rng.choice(3, p=VIEW_P))]
        lo, hi = cam['scale']
        r = lambda a, b: float(round(rng.uniform(a, b), 4))  # noqa: E731
        scene = dict(scale=r(lo, hi), dx=r(-0.07, 0.07), dy=r(0.0, 0.035),
                     mirror=bool(rng.random() < 0.5), bg_offset=r(0.0, 0.999),
                     bright=r(0.9, 1.1), noise_offset=[r(0.0, 0.999), r(0.0, 0.999)],
                     noise_scale=r(0.8, 1.2))
        # Background clutter (passers-by, objects) behind the person: [x0, y0, x1, y1]
        # frame fractions, RGB colour, infrared intensity.
        clutter = []
        for _ in range(int(rng.choice(3, p=(0.4, 0.4, 0.2)))):
            x0, y0 = r(-0.2, 0.9), r(0.0, 0.6)
            clutter.append(dict(box=[x0, y0, round(x0 + rng.uniform(0.12, 0.4), 4),
                                     round(y0 + rng.uniform(0.15, 0.6), 4)],
                                rgb=[int(v) for v in rng.integers(30, 230, size=3)],
                                ir=r(0.2, 0.6)))
        scene['clutter'] = clutter
        H, W = self.img_size
        return dict(pid=pid, camid=camid, modality=cam['modality'], view=view, split=split,
                    scene=scene, occluder=None, occluded_parts=[], crop=None,
                    visible_box=[0, 0, W, H])

    def _spread(self, rng, n: int, cams: Sequence[int]) -> List[int]:
        """``n`` camera ids covering every camera of ``cams`` once before repeating randomly."""
        cams = list(rng.permutation(cams))
        out = cams[:n] + [cams[int(rng.integers(len(cams)))] for _ in range(n - len(cams))]
        return [int(c) for c in out]

    def _occlude(self, rng, rec: Dict) -> None:
        lo, hi = self.config['occluded_fraction']
        ident = self._identity(rec['pid'])
        for _ in range(30):
            rec['occluder'] = sample_occluder(rng, len(self._distractors))
            total, hidden = part_coverage(rec, ident, self.img_size, self._distractors)
            frac = hidden[1:].sum() / max(1, total[1:].sum())
            if lo <= frac <= hi:
                break
        rec['occluded_parts'] = [PART_NAMES[k] for k in range(1, 6)
                                 if total[k] > 0 and hidden[k] >= 0.5 * total[k]]

    def _crop(self, rng, rec: Dict) -> None:
        regions = self.config['partial_regions']
        names = sorted(regions)
        p = np.array([regions[k] for k in names], np.float64)
        region = names[int(rng.choice(len(names), p=p / p.sum()))]
        ident = self._identity(rec['pid'])
        H, W = self.img_size
        pl = placement(rec['scene'], ident, self.img_size)
        top = max(0.0, pl.ytop - rng.uniform(0.0, 0.03) * pl.h)
        half = 0.3 * pl.h * pl.wf
        if region.startswith('upper'):
            frac = {'upper_half': 0.5, 'upper_two_thirds': 0.67,
                    'upper_three_quarters': 0.75}[region] + rng.uniform(-0.04, 0.04)
            box = [max(0.0, pl.cx - half) / W, top / H, min(W, pl.cx + half) / W,
                   min(H, pl.ytop + frac * pl.h) / H]
        else:
            cut = pl.cx + rng.uniform(-0.01, 0.05) * pl.h * (1 if region == 'left_side' else -1)
            box = ([0.0, 0.0, cut / W, 1.0] if region == 'left_side'
                   else [cut / W, 0.0, 1.0, 1.0])
        box = [float(round(min(max(b, 0.0), 1.0), 4)) for b in box]
        rec['crop'] = dict(region=region, box=box)
        x0, y0, x1, y1 = crop_pixels(box, self.img_size)
        rec['visible_box'] = [x0, y0, x1, y1]
        # Parts with at least half their pixels inside the crop.
        parts = MATERIAL_TO_PART[person_materials(rec, ident, self.img_size)[0]]
        total = np.bincount(parts.ravel(), minlength=6)
        inside = np.bincount(parts[y0:y1, x0:x1].ravel(), minlength=6)
        rec['visible_parts'] = [PART_NAMES[k] for k in range(1, 6)
                                if total[k] > 0 and inside[k] >= 0.5 * total[k]]

    def _plan(self) -> Dict[str, List[Dict]]:
        cfg = self.config
        rng = np.random.default_rng([self.seed, _PLAN])
        sysu = cfg['cameras'] == 'sysu'
        vis_cams = self._cams('visible')
        ir_cams = self._cams('infrared')
        if cfg['query_type'] == 'infrared' and not ir_cams:
            raise ValueError("SyntheticWorld: query_type='infrared' needs cameras='sysu'.")
        cams_lo, cams_hi = _range(cfg['cams_per_id'], 'cams_per_id')
        out: Dict[str, List[Dict]] = {s: [] for s in SPLITS}

        def pick_cams(pool: Sequence[int], must: Sequence[int] = ()) -> List[int]:
            k = int(rng.integers(max(cams_lo, len(must), 1), min(cams_hi, len(pool)) + 1))
            rest = [c for c in rng.permutation(pool) if c not in must]
            return sorted(int(c) for c in list(must) + rest[:k - len(must)])

        def track_views(cams: Sequence[int]) -> Dict[int, str]:
            return {c: VIEWS[int(rng.choice(3, p=VIEW_P))] for c in cams}

        def add(split: str, pid: int, camids: Sequence[int], views: Dict[int, str]) -> List:
            recs = [self._record(rng, pid, c, split, views[c]) for c in camids]
            out[split].extend(recs)
            return recs

        # Training identities.
        for pid in self.pids('train'):
            n = int(rng.integers(*np.add(_range(cfg['train_imgs_per_id'],
                                                'train_imgs_per_id'), (0, 1))))
            if sysu:
                cams = pick_cams(vis_cams)
                ir = pick_cams(ir_cams) if len(ir_cams) > 1 else list(ir_cams)
                n_ir = int(rng.integers(*np.add(_range(cfg['train_ir_imgs_per_id'],
                                                       'train_ir_imgs_per_id'), (0, 1))))
                views = track_views(cams + ir)
                add('train', pid, self._spread(rng, n, cams), views)
                add('train', pid, self._spread(rng, n_ir, ir), views)
            else:
                cams = pick_cams(vis_cams)
                recs = add('train', pid, self._spread(rng, n, cams), track_views(cams))
                for rec in recs:
                    if rng.random() < cfg['train_occluded_ratio']:
                        self._occlude(rng, rec)

        # Test identities: gallery, then queries from cameras that also hold gallery images.
        q_lo, q_hi = _range(cfg['query_imgs_per_id'], 'query_imgs_per_id')
        g_lo, g_hi = _range(cfg['gallery_imgs_per_id'], 'gallery_imgs_per_id')
        qtype = cfg['query_type']
        for pid in self.pids('query'):
            if sysu:
                # SYSU protocol: cam 1 (index 0) guarantees an indoor-search match, an outdoor
                # cam keeps a match when cam 2 is excluded for cam-3 queries.
                must = [vis_cams[0], int(rng.choice([c for c in vis_cams
                                                     if self.cameras[c]['env'] == 'outdoor']))]
                cams = pick_cams(vis_cams, must)
            else:
                cams = pick_cams(vis_cams, ())
                if len(cams) < 2:
                    raise ValueError('SyntheticWorld: every test identity needs >= 2 cameras '
                                     f"(cams_per_id={cfg['cams_per_id']}, num_cams="
                                     f"{len(vis_cams)}).")
            n_g = max(len(cams), int(rng.integers(g_lo, g_hi + 1)))
            q_cams = ir_cams if qtype == 'infrared' else cams
            views = track_views(sorted(set(cams) | set(q_cams)))
            add('gallery', pid, self._spread(rng, n_g, cams), views)
            if qtype == 'text':
                continue
            n_q = int(rng.integers(q_lo, q_hi + 1))
            for rec in add('query', pid, self._spread(rng, n_q, q_cams), views):
                if qtype == 'occluded':
                    self._occlude(rng, rec)
                elif qtype == 'partial':
                    self._crop(rng, rec)
        if qtype == 'text':
            out['query'] = out['gallery']   # text -> image: queries are the gallery's captions

        uid = 0
        for split in ('train', 'gallery', 'query'):
            for i, rec in enumerate(out[split]):
                if qtype == 'text' and split == 'query':
                    break
                rec['uid'] = uid
                rec['index'] = i
                uid += 1
        if cfg['captions']:
            cap_rng = np.random.default_rng([self.seed, _PLAN, 1])
            for split in ('train', 'gallery') if qtype == 'text' else SPLITS:
                for rec in out[split]:
                    rec['captions'] = make_captions(self._identity(rec['pid']), rec['view'],
                                                    cap_rng, cfg['num_captions'],
                                                    cfg['caption_omit_prob'])
        if qtype == 'text':
            out['query'] = [dict(r, split='query') for r in out['gallery']]
        return out


__all__ = ['SyntheticWorld', 'PRESETS', 'SPLITS', 'SYSU_CAMERAS']
