"""SAP's part teachers (``TEACHERS`` registry): where the noisy part labelling ``m`` comes from.

Every teacher returns masks in the package's part-label ids (0 background, 1 head, 2 upper body,
3 lower body, 4 shoes, 5 bag, 6 occluder); the model groups them into its K parts. Two kinds:

* *batch* teachers label the training batch as it reaches the model (after augmentation), so
  their masks are aligned with the pixels by construction: :class:`SampleMaskTeacher` (the
  sample's own ``part_mask``: the synthetic world's exact masks, or masks loaded in the
  pipeline), :class:`RuleTeacher`, :class:`ParserModelTeacher` (``mode='batch'``),
  :class:`NoisyMaskTeacher` (corrupts another batch teacher, for robustness studies).
* *source* teachers (``source_geometry = True``) label the original image file, keyed by
  ``img_path``, so their masks can be cached: :class:`PrecomputedMaskTeacher`,
  :class:`KeypointTeacher`, :class:`ParserModelTeacher` (``mode='source'``).
  :class:`~asym_plugins.hooks.TeacherDistillationHook` resizes and flips them to the batch
  image; for pixel-exact alignment under random crops, load them in the pipeline instead with
  :class:`LoadTeacherPartMask` (before the geometric transforms) and use
  :class:`SampleMaskTeacher` in the hook.
"""
import importlib
import json
import os
import os.path as osp
import sys
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from asym_plugins.registry import TEACHERS

NUM_LABELS = 7  # 0 background .. 6 occluder
HEAD, UPPER, LOWER, SHOES = 1, 2, 3, 4


def load_label_set(label_set) -> Tuple[int, ...]:
    """Parser class -> part-label id table from ``third_party/human_parsing`` (ATR, LIP,
    Pascal-Person-Part, ``'asym'``) or an explicit list / dict."""
    try:
        module = importlib.import_module('third_party.human_parsing')
    except ImportError:
        root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
        if not osp.isdir(osp.join(root, 'third_party', 'human_parsing')):
            raise ImportError('The parser label-set adapters live in third_party/human_parsing '
                              'of the asym-reid repository, which is not on sys.path; run from '
                              'the repository root or pass label_set as a list of part ids.')
        sys.path.insert(0, root)
        module = importlib.import_module('third_party.human_parsing')
    return module.label_set_lut(label_set)


def _apply_lut(mask: np.ndarray, lut: Sequence[int]) -> np.ndarray:
    table = np.zeros(256, dtype=np.uint8)
    table[:len(lut)] = np.asarray(lut, dtype=np.uint8)[:256]
    return table[mask.astype(np.int64).clip(0, 255)]


def _read_rgb(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise IOError(f'Cannot read image {path!r} for the part teacher.')
    return img[..., ::-1].copy()


def _sample_meta(sample) -> dict:
    """Metainfo dict of a data sample (ReIDDataSample) or a plain dict."""
    if isinstance(sample, dict):
        return sample
    return dict(sample.metainfo)


class BasePartTeacher:
    """Interface. ``source_geometry`` teachers implement :meth:`source_mask`, batch teachers
    :meth:`batch_masks`."""

    source_geometry = False

    def batch_masks(self, images: torch.Tensor, data_samples: Sequence) -> torch.Tensor:
        """uint8 RGB images (N, 3, H, W) as packed by ``PackReIDInputs`` -> (N, H, W) long."""
        raise NotImplementedError(f'{type(self).__name__} labels source images only; use it '
                                  'through TeacherDistillationHook or LoadTeacherPartMask.')

    def source_mask(self, info: dict) -> np.ndarray:
        """Mask (H0, W0) uint8 of the original image of a sample (``img_path``, ``ori_shape``)."""
        raise NotImplementedError(f'{type(self).__name__} labels batch images only.')

    def __repr__(self) -> str:
        return type(self).__name__


# --------------------------------------------------------------------------- batch teachers
@TEACHERS.register_module()
class SampleMaskTeacher(BasePartTeacher):
    """The sample's own ``part_mask``: the synthetic world's exact masks (or masks that the
    pipeline loaded, e.g. with :class:`LoadTeacherPartMask`), moved with the image by every
    transform.

    Args:
        label_set: label set of those masks (default ``'asym'``, the package's ids).
    """

    def __init__(self, label_set='asym') -> None:
        self.lut = None if label_set in ('asym', 'synthetic') else load_label_set(label_set)

    def batch_masks(self, images: torch.Tensor, data_samples: Sequence) -> torch.Tensor:
        masks = []
        for i, s in enumerate(data_samples):
            if 'part_mask' not in s:
                path = _sample_meta(s).get('img_path')
                raise ValueError(
                    f'SampleMaskTeacher: training sample {path!r} has no part_mask. The synthetic '
                    'world provides exact masks; for real data load the teacher masks in the '
                    "pipeline (dict(type='LoadTeacherPartMask', teacher=...) after LoadReIDImage) "
                    'or use another teacher (RuleTeacher, PrecomputedMaskTeacher, ...).')
            m = s.part_mask
            if self.lut is not None:
                m = torch.as_tensor(_apply_lut(m.cpu().numpy(), self.lut))
            masks.append(m.long())
        return torch.stack(masks)


@TEACHERS.register_module()
class RuleTeacher(BasePartTeacher):
    """Hand-crafted rules: horizontal bands inside a crude foreground.

    Foreground: pixels whose colour differs from the background estimate by more than
    ``threshold`` (0-255 scale, Euclidean in RGB); the background of each row is the median of
    the ``border`` leftmost and rightmost pixels of that row (pedestrian crops centre the
    person), smoothed over rows. A morphological opening / closing cleans the result; pixels of
    columns that are foreground in fewer than ``min_column_share`` of the rows are dropped.
    ``foreground=False`` labels the whole image (bands only).

    Bands: the rows between the first and the last foreground row (or the whole image) are cut
    at ``bands`` (fractions of that height) into head / upper body / lower body / shoes.

    Args:
        bands: 5 increasing fractions, start and end of head, upper, lower, shoes.
        foreground: use the foreground heuristic.
        threshold, border, min_column_share: foreground heuristic parameters.
    """

    def __init__(self, bands: Sequence[float] = (0.0, 0.16, 0.5, 0.9, 1.0),
                 foreground: bool = True, threshold: float = 40.0, border: int = 3,
                 min_column_share: float = 0.0, kernel: int = 3) -> None:
        if len(bands) != 5 or list(bands) != sorted(bands):
            raise ValueError(f'RuleTeacher: bands must be 5 increasing fractions, got {bands}.')
        self.bands = tuple(float(b) for b in bands)
        self.foreground = foreground
        self.threshold = threshold
        self.border = border
        self.min_column_share = min_column_share
        self.kernel = kernel

    def foreground_mask(self, img: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (H, W) bool."""
        h, w = img.shape[:2]
        b = max(1, min(self.border, w // 4))
        x = img.astype(np.float32)
        edges = np.concatenate([x[:, :b], x[:, w - b:]], axis=1)  # (H, 2b, 3)
        bg = np.median(edges, axis=1)  # (H, 3)
        bg = cv2.GaussianBlur(bg[:, None, :], (1, 9), 0)[:, 0, :] if h >= 9 else bg
        dist = np.linalg.norm(x - bg[:, None, :], axis=2)
        fg = (dist > self.threshold).astype(np.uint8)
        if self.kernel > 1:
            k = np.ones((self.kernel, self.kernel), np.uint8)
            fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, k)
            fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, k)
        if self.min_column_share > 0:
            fg[:, fg.mean(axis=0) < self.min_column_share] = 0
        return fg.astype(bool)

    def mask(self, img: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) uint8 part-label ids."""
        h, w = img.shape[:2]
        fg = self.foreground_mask(img) if self.foreground else np.ones((h, w), bool)
        rows = np.flatnonzero(fg.mean(axis=1) > 0.05)
        top, bottom = (rows[0], rows[-1] + 1) if rows.size else (0, h)
        span = max(bottom - top, 1)
        band = np.zeros(h, np.uint8)
        y = (np.arange(h) - top) / span
        for label, (lo, hi) in zip((HEAD, UPPER, LOWER, SHOES), zip(self.bands, self.bands[1:])):
            band[(y >= lo) & (y < hi)] = label
        band[(y >= self.bands[-1])] = 0
        out = np.repeat(band[:, None], w, axis=1)
        out[~fg] = 0
        return out

    def batch_masks(self, images: torch.Tensor, data_samples: Sequence) -> torch.Tensor:
        imgs = images.permute(0, 2, 3, 1).cpu().numpy().astype(np.uint8)
        return torch.stack([torch.from_numpy(self.mask(im)).long() for im in imgs])

    def source_mask(self, info: dict) -> np.ndarray:
        img = info.get('img')
        return self.mask(img if img is not None else _read_rgb(info['img_path']))


@TEACHERS.register_module()
class NoisyMaskTeacher(BasePartTeacher):
    """Corrupts another teacher's masks, to study how SAP copes with a noisy teacher.

    Per image: a vertical shift of up to ``shift`` x H pixels (rows moved in are background);
    ``num_blobs`` rectangles (sides up to ``blob_size`` x H / W) relabelled, each with
    probability ``blob_prob``, to a random part id in 0..5; with probability ``swap_prob`` the
    labels of two random body parts swapped.

    Args:
        teacher: config of the wrapped (batch) teacher.
        seed: seed of the corruption's own generator (reproducible runs).
    """

    def __init__(self, teacher: dict, shift: float = 0.08, num_blobs: int = 2,
                 blob_prob: float = 0.5, blob_size: float = 0.3, swap_prob: float = 0.1,
                 seed: int = 0) -> None:
        self.teacher = TEACHERS.build(teacher) if isinstance(teacher, dict) else teacher
        self.shift, self.num_blobs, self.blob_prob = shift, num_blobs, blob_prob
        self.blob_size, self.swap_prob = blob_size, swap_prob
        self.rng = np.random.default_rng(seed)

    def corrupt(self, mask: np.ndarray) -> np.ndarray:
        rng = self.rng
        h, w = mask.shape
        out = mask.copy()
        dy = int(rng.integers(-int(self.shift * h), int(self.shift * h) + 1)) if self.shift else 0
        if dy:
            out = np.roll(out, dy, axis=0)
            if dy > 0:
                out[:dy] = 0
            else:
                out[dy:] = 0
        if self.swap_prob and rng.random() < self.swap_prob:
            a, b = rng.choice([HEAD, UPPER, LOWER, SHOES], size=2, replace=False)
            ma, mb = out == a, out == b
            out[ma], out[mb] = b, a
        for _ in range(self.num_blobs):
            if rng.random() >= self.blob_prob:
                continue
            bh = max(1, int(rng.uniform(0.1, 1.0) * self.blob_size * h))
            bw = max(1, int(rng.uniform(0.1, 1.0) * self.blob_size * w * 2))
            y = int(rng.integers(0, max(1, h - bh + 1)))
            x = int(rng.integers(0, max(1, w - bw + 1)))
            out[y:y + bh, x:x + bw] = int(rng.integers(0, 6))
        return out

    def batch_masks(self, images: torch.Tensor, data_samples: Sequence) -> torch.Tensor:
        masks = self.teacher.batch_masks(images, data_samples).cpu().numpy().astype(np.uint8)
        return torch.stack([torch.from_numpy(self.corrupt(m)).long() for m in masks])


# --------------------------------------------------------------------------- source teachers
@TEACHERS.register_module()
class PrecomputedMaskTeacher(BasePartTeacher):
    """Part masks stored on disk, one per image (``.png`` label image or ``.npy`` array).

    Path mapping: ``osp.join(mask_root, path_format.format(**fields))`` with fields
    ``rel`` (``img_path`` relative to ``img_root``, without extension; needs ``img_root``),
    ``parent`` (name of the image's folder), ``stem`` (file name without extension), ``name``
    (file name) and ``suffix``. The default, ``'{parent}/{stem}{suffix}'``, maps
    ``.../Occluded_Duke/bounding_box_train/0001_c2_f0046182.jpg`` to
    ``<mask_root>/bounding_box_train/0001_c2_f0046182.png``; with ``img_root`` set the default
    becomes ``'{rel}{suffix}'`` (the image tree mirrored).

    Args:
        mask_root: folder of the masks.
        label_set: the masks' label set: ``'asym'`` (ours), ``'pascal_person_part'``, ``'lip'``,
            ``'atr'`` (adapters in ``third_party/human_parsing``) or a list / dict.
        suffix: ``'.png'`` or ``'.npy'``.
        img_root, path_format: see above.
        missing: ``'error'`` (default) or ``'background'`` (an all-background mask; counted).
    """

    source_geometry = True

    def __init__(self, mask_root: str, label_set='asym', suffix: str = '.png',
                 img_root: Optional[str] = None, path_format: Optional[str] = None,
                 missing: str = 'error') -> None:
        if missing not in ('error', 'background'):
            raise ValueError("PrecomputedMaskTeacher: missing must be 'error' or 'background'.")
        if not osp.isdir(mask_root):
            raise FileNotFoundError(
                f'PrecomputedMaskTeacher: mask folder {mask_root!r} does not exist. Put one mask '
                f'per training image there ({suffix}, label set {label_set!r}; default layout '
                f'<mask_root>/<image folder>/<image stem>{suffix}), e.g. produced by a human '
                "parser, or switch the teacher (dict(type='RuleTeacher') needs no files).")
        self.mask_root = mask_root
        self.label_set = label_set
        self.lut = None if label_set in ('asym', 'synthetic') else load_label_set(label_set)
        self.suffix = suffix
        self.img_root = img_root
        self.path_format = path_format or ('{rel}{suffix}' if img_root else
                                           '{parent}/{stem}{suffix}')
        self.missing = missing
        self.num_missing = 0

    def mask_path(self, img_path: str) -> str:
        stem, _ = osp.splitext(osp.basename(img_path))
        fields = dict(parent=osp.basename(osp.dirname(img_path)), stem=stem,
                      name=osp.basename(img_path), suffix=self.suffix, rel=stem)
        if self.img_root:
            fields['rel'] = osp.splitext(osp.relpath(img_path, self.img_root))[0]
        return osp.join(self.mask_root, self.path_format.format(**fields))

    def read(self, path: str) -> Optional[np.ndarray]:
        if not osp.isfile(path):
            return None
        if path.endswith('.npy'):
            mask = np.load(path)
        else:
            from PIL import Image  # palette PNGs: read the indices, not the colours
            mask = np.array(Image.open(path))
        if mask.ndim == 3:
            mask = mask[..., 0]
        return mask

    def source_mask(self, info: dict) -> np.ndarray:
        path = self.mask_path(info['img_path'])
        mask = self.read(path)
        if mask is None:
            if self.missing == 'error':
                raise FileNotFoundError(
                    f'PrecomputedMaskTeacher: no mask for {info["img_path"]!r} at {path!r} '
                    f'(mask_root={self.mask_root!r}, path_format={self.path_format!r}). Create '
                    "it, or set missing='background' to train on without it.")
            self.num_missing += 1
            shape = info.get('ori_shape') or info.get('img_shape')
            return np.zeros(tuple(shape)[:2], np.uint8)
        mask = mask.astype(np.int64)
        return (_apply_lut(mask, self.lut) if self.lut is not None
                else mask.clip(0, NUM_LABELS - 1).astype(np.uint8))


#: COCO-17 keypoint indices.
COCO_KPTS = dict(nose=0, l_eye=1, r_eye=2, l_ear=3, r_ear=4, l_shoulder=5, r_shoulder=6,
                 l_elbow=7, r_elbow=8, l_wrist=9, r_wrist=10, l_hip=11, r_hip=12, l_knee=13,
                 r_knee=14, l_ankle=15, r_ankle=16)


def render_keypoint_mask(kpts: np.ndarray, shape: Tuple[int, int], min_score: float = 0.3,
                         width: Optional[float] = None) -> np.ndarray:
    """COCO-17 keypoints (17, 3) ``(x, y, score)`` -> part-label mask (H, W) uint8.

    Regions [ours]: head = disc around the visible face points (or above the shoulders);
    upper body = torso polygon (shoulders, hips) + arm segments; lower body = hip-knee-ankle
    segments; shoes = discs at the ankles. ``width`` (limb thickness, pixels) defaults to 0.4 x
    the shoulder distance, or H / 14.
    """
    h, w = shape
    out = np.zeros((h, w), np.uint8)
    kpts = np.asarray(kpts, dtype=np.float32).reshape(17, -1)
    if kpts.shape[1] == 2:
        kpts = np.concatenate([kpts, np.ones((17, 1), np.float32)], axis=1)
    vis = kpts[:, 2] >= min_score
    pt = {name: (tuple(int(round(v)) for v in kpts[i, :2]) if vis[i] else None)
          for name, i in COCO_KPTS.items()}
    if width is None:
        ls, rs = pt['l_shoulder'], pt['r_shoulder']
        width = 0.4 * np.hypot(ls[0] - rs[0], ls[1] - rs[1]) if ls and rs else h / 14.0
    t = max(1, int(round(width)))

    def seg(a, b, label, thick):
        if pt[a] and pt[b]:
            cv2.line(out, pt[a], pt[b], int(label), thickness=thick)

    for side in ('l', 'r'):  # lower body
        seg(f'{side}_hip', f'{side}_knee', LOWER, int(t * 1.3))
        seg(f'{side}_knee', f'{side}_ankle', LOWER, t)
    hips = [pt['l_hip'], pt['r_hip']]
    if all(hips):
        seg('l_hip', 'r_hip', LOWER, t)
    torso = [p for p in (pt['l_shoulder'], pt['r_shoulder'], pt['r_hip'], pt['l_hip']) if p]
    if len(torso) >= 3:
        cv2.fillConvexPoly(out, cv2.convexHull(np.array(torso, np.int32)), UPPER)
    for a, b in (('l_shoulder', 'r_shoulder'), ('l_shoulder', 'l_hip'), ('r_shoulder', 'r_hip')):
        seg(a, b, UPPER, t)
    for side in ('l', 'r'):
        seg(f'{side}_shoulder', f'{side}_elbow', UPPER, t)
        seg(f'{side}_elbow', f'{side}_wrist', UPPER, max(1, int(t * 0.8)))
    face = [pt[n] for n in ('nose', 'l_eye', 'r_eye', 'l_ear', 'r_ear') if pt[n]]
    if face:
        c = np.mean(np.array(face, np.float32), axis=0)
        ears = [pt['l_ear'], pt['r_ear']]
        r = 0.6 * np.hypot(ears[0][0] - ears[1][0], ears[0][1] - ears[1][1]) if all(ears) \
            else 1.1 * t
        cv2.circle(out, (int(c[0]), int(c[1])), max(1, int(round(r))), HEAD, thickness=-1)
    elif pt['l_shoulder'] and pt['r_shoulder']:
        c = (np.array(pt['l_shoulder']) + np.array(pt['r_shoulder'])) / 2.0
        cv2.circle(out, (int(c[0]), int(c[1] - 1.5 * t)), t, HEAD, thickness=-1)
    for side in ('l', 'r'):
        a = pt[f'{side}_ankle']
        if a:
            cv2.circle(out, a, max(1, int(t * 0.7)), SHOES, thickness=-1)
    return out


@TEACHERS.register_module()
class KeypointTeacher(BasePartTeacher):
    """Pose teacher: COCO-17 keypoints per image (json) rendered into part regions
    (:func:`render_keypoint_mask`).

    The json is either ``{image key: [[x, y, score] x 17] or a flat list of 51}`` or COCO style
    ``{"images": [{"id", "file_name"}], "annotations": [{"image_id", "keypoints"}]}`` (the
    first annotation of an image is used). Image keys are file names (``key='name'``) or paths
    relative to ``img_root`` (``key='rel'``).

    Args:
        keypoint_file: the json file. img_root / key: see above.
        min_score: keypoints below this confidence (COCO visibility 0) are ignored.
        missing: ``'error'`` or ``'background'``.
    """

    source_geometry = True

    def __init__(self, keypoint_file: str, img_root: Optional[str] = None, key: str = 'name',
                 min_score: float = 0.3, width: Optional[float] = None,
                 missing: str = 'error') -> None:
        if not osp.isfile(keypoint_file):
            raise FileNotFoundError(
                f'KeypointTeacher: keypoint file {keypoint_file!r} does not exist. Write COCO-17 '
                'keypoints of every training image there (json: {file name: [[x, y, score] x '
                '17]} or COCO annotations), e.g. from any 2-D pose estimator.')
        if key not in ('name', 'rel'):
            raise ValueError("KeypointTeacher: key must be 'name' or 'rel'.")
        if key == 'rel' and not img_root:
            raise ValueError("KeypointTeacher: key='rel' needs img_root.")
        with open(keypoint_file) as f:
            data = json.load(f)
        if isinstance(data, dict) and 'annotations' in data and 'images' in data:
            names = {im['id']: im['file_name'] for im in data['images']}
            table: Dict[str, list] = {}
            for ann in data['annotations']:
                table.setdefault(names[ann['image_id']], ann['keypoints'])
            data = table
        self.keypoints = {k: np.asarray(v, np.float32).reshape(17, -1) for k, v in data.items()}
        self.img_root, self.key = img_root, key
        self.min_score, self.width, self.missing = min_score, width, missing
        self.num_missing = 0

    def _key(self, img_path: str) -> str:
        if self.key == 'rel':
            return osp.relpath(img_path, self.img_root).replace(os.sep, '/')
        return osp.basename(img_path)

    def source_mask(self, info: dict) -> np.ndarray:
        shape = info.get('ori_shape') or info.get('img_shape')
        if shape is None:
            shape = _read_rgb(info['img_path']).shape[:2]
        kpts = self.keypoints.get(self._key(info['img_path']))
        if kpts is None:
            if self.missing == 'error':
                raise KeyError(f'KeypointTeacher: no keypoints for {info["img_path"]!r} (key '
                               f'{self._key(info["img_path"])!r}).')
            self.num_missing += 1
            return np.zeros(tuple(shape)[:2], np.uint8)
        return render_keypoint_mask(kpts, tuple(shape)[:2], self.min_score, self.width)


@TEACHERS.register_module()
class ParserModelTeacher(BasePartTeacher):
    """A human parser from a model file: TorchScript (``.pt`` / ``.pth`` / ``.ts``) or ONNX
    (``.onnx``; needs ``onnxruntime``, imported only then).

    The model takes a float image batch (N, 3, h, w), normalised with ``mean`` / ``std`` on the
    0-255 scale, and returns class logits (N, C, h', w') (the first output when several); the
    argmax is resized (nearest) to the image and mapped to our ids through ``label_set``.

    Args:
        model_file: the parser file. backend: ``'auto'`` (by extension), ``'torchscript'``,
            ``'onnx'``.
        label_set: the parser's classes: ``'pascal_person_part'``, ``'lip'``, ``'atr'``, ...
        input_size: (h, w) fed to the parser; ``None`` = the image size.
        mean, std, bgr: input normalisation / channel order of the parser.
        mode: ``'batch'`` labels the augmented batch (aligned, not cached); ``'source'`` the
            original image file (cached by the hook).
        device: where a TorchScript parser runs.
    """

    def __init__(self, model_file: str, backend: str = 'auto', label_set='pascal_person_part',
                 input_size: Optional[Sequence[int]] = None,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), bgr: bool = False,
                 mode: str = 'batch', device: str = 'cpu') -> None:
        if not osp.isfile(model_file):
            raise FileNotFoundError(f'ParserModelTeacher: model file {model_file!r} does not '
                                    'exist (a TorchScript or ONNX human parser).')
        if mode not in ('batch', 'source'):
            raise ValueError("ParserModelTeacher: mode must be 'batch' or 'source'.")
        if backend == 'auto':
            backend = 'onnx' if model_file.lower().endswith('.onnx') else 'torchscript'
        self.backend = backend
        self.device = torch.device(device)
        if backend == 'onnx':
            try:
                import onnxruntime as ort
            except ImportError as e:
                raise ImportError('ParserModelTeacher: an ONNX parser needs onnxruntime '
                                  '(pip install onnxruntime, or asym-reid[onnx]).') from e
            self.session = ort.InferenceSession(model_file, providers=['CPUExecutionProvider'])
            self.input_name = self.session.get_inputs()[0].name
        elif backend == 'torchscript':
            self.module = torch.jit.load(model_file, map_location=self.device).eval()
        else:
            raise ValueError(f"ParserModelTeacher: backend must be 'auto', 'torchscript' or "
                             f"'onnx', got {backend!r}.")
        self.lut = load_label_set(label_set)
        self.input_size = tuple(input_size) if input_size else None
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.bgr = bgr
        self.mode = mode
        self.source_geometry = mode == 'source'

    @torch.no_grad()
    def parse(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 RGB (N, 3, H, W) -> part-label ids (N, H, W) long."""
        h, w = images.shape[-2:]
        x = images.float().cpu()
        if self.bgr:
            x = x.flip(1)
        x = (x - self.mean) / self.std
        if self.input_size and tuple(self.input_size) != (h, w):
            x = F.interpolate(x, size=self.input_size, mode='bilinear', align_corners=False)
        if self.backend == 'onnx':
            out = self.session.run(None, {self.input_name: x.numpy()})[0]
            logits = torch.from_numpy(np.asarray(out))
        else:
            out = self.module(x.to(self.device))
            while isinstance(out, (list, tuple)):
                out = out[0]
            logits = out.float().cpu()
        labels = logits.argmax(dim=1, keepdim=True).float()
        labels = F.interpolate(labels, size=(h, w), mode='nearest')[:, 0].long()
        return torch.from_numpy(_apply_lut(labels.numpy(), self.lut)).long()

    def batch_masks(self, images: torch.Tensor, data_samples: Sequence) -> torch.Tensor:
        return self.parse(images)

    def source_mask(self, info: dict) -> np.ndarray:
        img = info.get('img')
        img = img if img is not None else _read_rgb(info['img_path'])
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
        return self.parse(x)[0].numpy().astype(np.uint8)


def build_teacher(cfg: Union[dict, BasePartTeacher]) -> BasePartTeacher:
    return cfg if isinstance(cfg, BasePartTeacher) else TEACHERS.build(cfg)
