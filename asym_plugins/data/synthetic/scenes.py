"""Cameras of the synthetic world: a background scene, a light, a lens and a sensor each.

A camera is described by a small JSON-able dict (:func:`make_camera`); its background texture
is generated on demand (:func:`camera_background`) at twice the image width, and each image
shows a window of it, so backgrounds of one camera resemble each other without repeating.
"""
from typing import Dict, Tuple

import cv2
import numpy as np

INDOOR_WALLS = ((204, 198, 184), (172, 178, 188), (214, 210, 204), (152, 164, 152),
                (194, 172, 152), (186, 190, 200))
INDOOR_FLOORS = ((122, 116, 110), (152, 130, 100), (92, 96, 104), (176, 170, 160))
OUTDOOR_FACADES = ((160, 150, 140), (122, 126, 136), (182, 170, 150), (140, 110, 96),
                   (196, 196, 190))
OUTDOOR_GROUNDS = ((102, 102, 106), (172, 162, 146), (84, 128, 64), (132, 124, 116))


def make_camera(rng: np.random.Generator, camid: int, modality: str, env: str) -> Dict:
    """Draw one camera's description.

    Args:
        camid: 0-based camera id. modality: 'visible' | 'infrared'. env: 'indoor' | 'outdoor'.
    """
    outdoor = env == 'outdoor'
    cast = np.array([0.95, 1.0, 1.07] if outdoor else [1.07, 1.0, 0.9])
    cast = cast * rng.uniform(0.96, 1.04, size=3)
    return dict(
        camid=camid, modality=modality, env=env,
        bg_seed=int(rng.integers(2 ** 31)),
        cast=[float(c) for c in cast],
        brightness=float(rng.uniform(0.82, 1.12)),
        contrast=float(rng.uniform(0.85, 1.1)),
        blur=float(rng.uniform(0.3, 0.9)) if modality == 'visible'
        else float(rng.uniform(0.6, 1.1)),
        noise=float(rng.uniform(2.5, 6.0)) if modality == 'visible'
        else float(rng.uniform(5.0, 9.0)),
        light_dx=float(rng.uniform(-0.4, 0.4)),
        scale=(0.83, 0.96) if rng.random() < 0.5 else (0.77, 0.92),
        ir_gain=float(rng.uniform(0.9, 1.1)),
        ir_gamma=float(rng.uniform(0.75, 1.25)),
    )


def _smooth_noise(rng: np.random.Generator, H: int, W: int, cells: Tuple[int, int]) -> np.ndarray:
    small = rng.standard_normal(cells).astype(np.float32)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)


def camera_background(cam: Dict, H: int, W: int) -> Tuple[np.ndarray, np.ndarray]:
    """The camera's background at height ``H`` and width ``2 * W``.

    Returns:
        (rgb float32 Hx2Wx3 in 0..255, infrared float32 Hx2W in 0..1).
    """
    rng = np.random.default_rng(cam['bg_seed'])
    W2 = 2 * W
    outdoor = cam['env'] == 'outdoor'
    img = np.empty((H, W2, 3), dtype=np.float32)
    horizon = int(H * rng.uniform(0.5, 0.7))
    ys = np.arange(H, dtype=np.float32)[:, None]
    if outdoor:
        top = np.array(OUTDOOR_FACADES[rng.integers(len(OUTDOOR_FACADES))], np.float32)
        ground = np.array(OUTDOOR_GROUNDS[rng.integers(len(OUTDOOR_GROUNDS))], np.float32)
    else:
        top = np.array(INDOOR_WALLS[rng.integers(len(INDOOR_WALLS))], np.float32)
        ground = np.array(INDOOR_FLOORS[rng.integers(len(INDOOR_FLOORS))], np.float32)
    img[:horizon] = top
    img[horizon:] = ground
    # Wall / facade structure: windows, doors, pillars.
    n = int(rng.integers(3, 7))
    for _ in range(n):
        w = int(W2 * rng.uniform(0.08, 0.25))
        x0 = int(rng.integers(0, W2 - w))
        if outdoor:   # window grid rows
            y0 = int(horizon * rng.uniform(0.05, 0.5))
            y1 = int(y0 + horizon * rng.uniform(0.15, 0.4))
            shade = rng.uniform(0.35, 0.7)
        else:         # doors / shelves / posters
            y0 = int(horizon * rng.uniform(0.1, 0.5))
            y1 = horizon
            shade = rng.uniform(0.6, 1.25)
        col = np.clip(top * shade + rng.uniform(-20, 20, 3), 0, 255)
        img[y0:y1, x0:x0 + w] = col
    # Floor: perspective bands.
    k = 1
    y = horizon + 2
    while y < H:
        img[y:y + 1] *= 0.85
        k += 1
        y = horizon + int(2 * k * k * H / 200) + 2
    # Lighting gradient and low-frequency dirt.
    grad = 1.0 + 0.12 * (ys / H - 0.5) * (1 if outdoor else -1)
    img *= grad[..., None]
    img += 10 * _smooth_noise(rng, H, W2, (6, 12))[..., None]
    # Street scenes are mostly neutral: keep about half of the colour saturation.
    gray = img @ np.array([0.299, 0.587, 0.114], np.float32)
    img = gray[..., None] + 0.55 * (img - gray[..., None])
    np.clip(img, 0, 255, out=img)

    gray = gray / 255.0
    if outdoor:
        ir = 0.26 + 0.3 * (gray - 0.5) + 0.04 * _smooth_noise(rng, H, W2, (8, 16))
        ir[horizon:] += 0.06   # sun-warmed ground
    else:
        ir = 0.36 + 0.12 * (gray - 0.5) + 0.02 * _smooth_noise(rng, H, W2, (4, 8))
    return img, np.clip(ir, 0, 1).astype(np.float32)
