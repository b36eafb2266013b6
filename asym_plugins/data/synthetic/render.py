"""The renderer: a record (who, which camera, which view, scene jitter, occluder, crop) to
an RGB image and its part mask.

Every random choice of an image is stored in its record (``scene``, ``occluder``, ``crop``,
``render_seed``) when the world plans its splits, so rendering is a pure function of the record
and the world; the same record renders the same pixels in any process. Scene values are
fractions of the frame, so one record renders at any image size.

Pipeline: person material map (:mod:`.body`) -> colour (visible) or NIR reflectance (infrared) look-up ->
shading -> camera background -> occluder -> camera response (cast, brightness, contrast), blur,
sensor noise -> optional partial crop, resized back to the image size.
"""
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from .body import MATERIAL_TO_PART, Placement, draw_person, visible_luts
from .infrared import infrared_lut, infrared_response
from .occluders import draw_occluder
from .palette import PART_LABELS
from .scenes import camera_background

OCCLUDER_LABEL = PART_LABELS['occluder']


def placement(scene: Dict, ident: Dict, shape: Tuple[int, int]) -> Placement:
    """Pixel placement of a person from a record's ``scene`` (fractions of the frame)."""
    H, W = shape
    ybottom = H * (0.99 - scene['dy'])
    h = min(H * scene['scale'] * ident['height_factor'], ybottom - 0.01 * H)
    return Placement(cx=W * (0.5 + scene['dx']), ybottom=ybottom, h=h,
                     wf=ident['width_factor'], mirror=bool(scene['mirror']))


def crop_pixels(box: List[float], shape: Tuple[int, int]) -> Tuple[int, int, int, int]:
    """A crop box given as frame fractions (x0, y0, x1, y1) to integer pixels (end exclusive)."""
    H, W = shape
    x0 = int(round(box[0] * W))
    y0 = int(round(box[1] * H))
    x1 = max(x0 + 1, int(round(box[2] * W)))
    y1 = max(y0 + 1, int(round(box[3] * H)))
    return max(0, x0), max(0, y0), min(W, x1), min(H, y1)


def person_materials(rec: Dict, ident: Dict, shape: Tuple[int, int]) -> Tuple[np.ndarray,
                                                                           Placement]:
    """Material map of the record's person (no occluder, no crop) and its placement."""
    pl = placement(rec['scene'], ident, shape)
    mat = np.zeros(shape, np.uint8)
    draw_person(mat, ident, rec['view'], pl)
    return mat, pl


def part_coverage(rec: Dict, ident: Dict, shape: Tuple[int, int],
                  distractors: List[Dict]) -> Tuple[np.ndarray, np.ndarray]:
    """Per part label (0..5): pixel count of the unoccluded person and of it under the occluder.

    Rasterises geometry only (no colours, background or noise); used to record which parts
    an occluder hides.
    """
    mat, pl = person_materials(rec, ident, shape)
    parts = MATERIAL_TO_PART[mat]
    total = np.bincount(parts.ravel(), minlength=6)[:6]
    if not rec.get('occluder'):
        return total, np.zeros_like(total)
    occ = draw_occluder(rec['occluder'], pl, shape, distractors)[0] > 0
    hidden = np.bincount(parts[occ].ravel(), minlength=6)[:6]
    return total, hidden


class Renderer:
    """Renders records of one world at one image size; caches backgrounds and sensor noise.

    Args:
        cameras: the world's camera dicts (see :func:`.scenes.make_camera`), index = camid.
        shape: (H, W) of the output images.
        noise_seed: seed of the sensor-noise bank.
    """

    def __init__(self, cameras: List[Dict], shape: Tuple[int, int], noise_seed: int):
        self.cameras = cameras
        self.shape = (int(shape[0]), int(shape[1]))
        self.noise_seed = noise_seed
        self._bg: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
        self._noise: Optional[np.ndarray] = None

    def __getstate__(self):
        # Caches are rebuilt lazily in each dataloader worker.
        state = self.__dict__.copy()
        state['_bg'] = {}
        state['_noise'] = None
        return state

    def background(self, camid: int) -> Tuple[np.ndarray, np.ndarray]:
        if camid not in self._bg:
            H, W = self.shape
            self._bg[camid] = camera_background(self.cameras[camid], H, W)
        return self._bg[camid]

    def noise(self) -> np.ndarray:
        if self._noise is None:
            H, W = self.shape
            rng = np.random.default_rng(self.noise_seed)
            self._noise = rng.standard_normal((2 * H, 2 * W, 3), dtype=np.float32)
        return self._noise

    def _shading(self, pl: Placement, cam: Dict, strength: float) -> np.ndarray:
        H, W = self.shape
        hw = 0.2 * pl.h * pl.wf
        xs = (np.arange(W, dtype=np.float32) - pl.cx - cam['light_dx'] * hw) / hw
        col = np.clip(1.04 - strength * xs * xs, 1 - 2 * strength, 1.06)
        ys = (np.arange(H, dtype=np.float32) - pl.ytop) / max(pl.h, 1.0)
        row = 1.0 - 0.5 * strength * np.clip(ys, 0, 1)
        return row[:, None] * col[None, :]

    def render(self, rec: Dict, ident: Dict, distractors: List[Dict]) -> Dict[str, np.ndarray]:
        """Render one record: ``dict(img=uint8 HxWx3 RGB, mask=uint8 HxW)``."""
        H, W = self.shape
        cam = self.cameras[rec['camid']]
        scene = rec['scene']
        infrared = rec['modality'] == 'infrared'
        mat, pl = person_materials(rec, ident, self.shape)
        fg = mat > 0
        bg_rgb, bg_ir = self.background(rec['camid'])
        off = int(scene['bg_offset'] * W)
        bg = (bg_ir if infrared else bg_rgb)[:, off:off + W]
        if scene.get('clutter'):
            bg = bg.copy()
            for item in scene['clutter']:
                x0, y0, x1, y1 = crop_pixels(item['box'], self.shape)
                bg[y0:y1, x0:x1] = item['ir'] if infrared else item['rgb']

        occ = None
        if rec.get('occluder'):
            occ_mat, occ_rgb, occ_ir = draw_occluder(rec['occluder'], pl, self.shape,
                                                     distractors)
            occ = occ_mat > 0

        nb = self.noise()
        oy = int(scene['noise_offset'][0] * H)
        ox = int(scene['noise_offset'][1] * W)
        std = cam['noise'] * scene['noise_scale']
        sigma = cam['blur'] * H / 128.0
        if infrared:
            img = infrared_lut(ident)[mat]
            img *= np.where(fg, self._shading(pl, cam, 0.08), np.float32(1.0))
            img = np.where(fg, img, bg)
            if occ is not None:
                img = np.where(occ, occ_ir[occ_mat], img)
            img = infrared_response(img * np.float32(scene['bright']), cam['ir_gain'],
                                    cam['ir_gamma'])
            img *= np.float32(255.0)
            if sigma > 0.25:
                img = cv2.GaussianBlur(img, (0, 0), sigma)
            img += np.float32(std) * nb[oy:oy + H, ox:ox + W, 0]
            img = np.clip(img, 0, 255, out=img).astype(np.uint8)
            img = cv2.merge([img, img, img])
        else:
            img = visible_luts(ident)[mat]
            img *= np.where(fg, self._shading(pl, cam, 0.22), np.float32(1.0))[..., None]
            img = np.where(fg[..., None], img, bg)
            if occ is not None:
                img = np.where(occ[..., None], occ_rgb[occ_mat], img)
            # Camera response: colour cast, brightness, contrast around mid-grey.
            gain = np.asarray(cam['cast'], np.float32) * np.float32(cam['brightness']
                                                                   * scene['bright'])
            img *= gain * np.float32(cam['contrast'])
            img += (np.float32(127.5 * (1.0 - cam['contrast'])) * gain)
            if sigma > 0.25:
                img = cv2.GaussianBlur(img, (0, 0), sigma)
            img += np.float32(std) * nb[oy:oy + H, ox:ox + W]
            img = np.clip(img, 0, 255, out=img).astype(np.uint8)

        mask = MATERIAL_TO_PART[mat]
        if occ is not None:
            mask[occ] = OCCLUDER_LABEL
        crop = rec.get('crop')
        if crop:
            x0, y0, x1, y1 = crop_pixels(crop['box'], self.shape)
            img = cv2.resize(img[y0:y1, x0:x1], (W, H), interpolation=cv2.INTER_LINEAR)
            mask = cv2.resize(mask[y0:y1, x0:x1], (W, H), interpolation=cv2.INTER_NEAREST)
        return dict(img=np.ascontiguousarray(img), mask=np.ascontiguousarray(mask))
