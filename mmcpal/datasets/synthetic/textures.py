"""Texture painters of the synthetic demo set: background, bodies, contexts.

Every function draws from the NumPy ``Generator`` it is given and returns a
float32 (H, W, 3) RGB array in [0, 255], so an image is a pure function of
its seed.
"""
from typing import Callable, Dict, Sequence, Tuple

import cv2
import numpy as np

RGB = Tuple[int, int, int]

#: Body colours shared by several classes, so that colour alone does not tell
#: the class (the discriminative part colours of ``DEMO_PARTS`` are kept out).
BODY_COLOURS: Dict[str, RGB] = {
    'red': (170, 40, 40),
    'navy': (40, 50, 110),
    'white': (225, 225, 215),
    'brown': (120, 75, 40),
    'grey': (120, 120, 125),
    'olive': (110, 115, 50),
    'cream': (230, 215, 170),
    'teal': (40, 115, 115),
    'black': (35, 35, 35),
    'rust': (170, 95, 45),
    'mustard': (200, 165, 60),
    'window': (160, 200, 225),
    'tyre': (20, 20, 20),
}


def jitter_colour(rng: np.random.Generator, colour: Sequence[int],
                  amount: float = 15.) -> np.ndarray:
    """A colour with each channel moved by up to ``amount``.

    Args:
        rng (np.random.Generator): Random source.
        colour (Sequence[int]): RGB colour.
        amount (float): Largest change per channel. Defaults to 15.

    Returns:
        np.ndarray: float32 (3,) RGB colour in [0, 255].
    """
    c = np.asarray(colour, np.float32) + rng.uniform(-amount, amount, 3)
    return np.clip(c, 0, 255).astype(np.float32)


def _fill(h: int, w: int, colour: np.ndarray) -> np.ndarray:
    return np.broadcast_to(colour, (h, w, 3)).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int,
                  channels: int = 1) -> np.ndarray:
    """Zero-mean, unit-range noise varying over about ``cell`` pixels."""
    gh, gw = max(2, h // cell + 2), max(2, w // cell + 2)
    grid = rng.uniform(-1., 1., (gh, gw, channels)).astype(np.float32)
    out = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return out.reshape(h, w, channels)


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A cluttered, muted background: smooth colour field, blotches, clutter.

    Args:
        rng (np.random.Generator): Random source.
        h (int): Height.
        w (int): Width.

    Returns:
        np.ndarray: float32 (h, w, 3) RGB.
    """
    base = rng.uniform(70., 190., (3, 3, 3)).astype(np.float32)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    grey = img.mean(axis=2, keepdims=True)
    img = 0.55 * img + 0.45 * grey  # desaturate: generic, not a context
    img += 18. * _smooth_noise(rng, h, w, cell=10)
    img = np.ascontiguousarray(np.clip(img, 0, 255))
    for _ in range(int(rng.integers(8, 20))):
        level = rng.uniform(60., 200.)
        colour = tuple(float(v) for v in level + rng.uniform(-20, 20, 3))
        kind = rng.integers(0, 3)
        p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if kind == 0:
            q = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, p, q, colour, int(rng.integers(1, 3)), cv2.LINE_AA)
        elif kind == 1:
            cv2.circle(img, p, int(rng.integers(3, 14)), colour,
                       int(rng.choice([-1, 1, 2])), cv2.LINE_AA)
        else:
            q = (p[0] + int(rng.integers(4, 20)),
                 p[1] + int(rng.integers(4, 20)))
            cv2.rectangle(img, p, q, colour, int(rng.choice([-1, 1])))
    return img


# ----------------------------------------------------------------- bodies
def body_texture(rng: np.random.Generator, kind: str, h: int, w: int,
                 colours: Sequence[np.ndarray]) -> np.ndarray:
    """The surface of an object body.

    Args:
        rng (np.random.Generator): Random source.
        kind (str): One of 'solid', 'stripes_h', 'stripes_v', 'spots',
            'checker', 'dots'.
        h (int): Height.
        w (int): Width.
        colours (Sequence[np.ndarray]): Two RGB colours (base, pattern).

    Returns:
        np.ndarray: float32 (h, w, 3) RGB.
    """
    c1, c2 = colours
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 'solid':
        img = _fill(h, w, c1) + 12. * _smooth_noise(rng, h, w, 6)
    elif kind in ('stripes_h', 'stripes_v'):
        period = rng.uniform(4., 8.)
        coord = yy if kind == 'stripes_h' else xx
        on = (np.mod(coord + rng.uniform(0, period), period) < period / 2)
        img = np.where(on[..., None], c2, c1).astype(np.float32)
    elif kind == 'checker':
        period = rng.uniform(5., 9.)
        on = (np.floor(yy / period) + np.floor(xx / period)) % 2 == 1
        img = np.where(on[..., None], c2, c1).astype(np.float32)
    elif kind == 'dots':
        period = rng.uniform(5., 8.)
        dy = np.mod(yy, period) - period / 2
        dx = np.mod(xx, period) - period / 2
        on = dx * dx + dy * dy < (period / 3.2)**2
        img = np.where(on[..., None], c2, c1).astype(np.float32)
    elif kind == 'spots':
        img = np.ascontiguousarray(_fill(h, w, c1))
        for _ in range(max(2, int(h * w / 120))):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(2, max(3, w // 6))),
                    int(rng.integers(2, max(3, h // 6))))
            cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0,
                        360, tuple(float(v) for v in c2), -1)
    else:
        raise ValueError(f'unknown body texture {kind!r}; expected one of '
                         f"'solid', 'stripes_h', 'stripes_v', 'spots', "
                         f"'checker', 'dots'")
    return img + rng.normal(0., 4., (h, w, 1)).astype(np.float32)


# --------------------------------------------------------------- contexts
def _water(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = jitter_colour(rng, (35, 95, 175), 15)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lam, lam_x = rng.uniform(5., 8.), rng.uniform(14., 24.)
    phase = yy / lam + 0.35 * np.sin(2 * np.pi * xx / lam_x)
    wave = np.clip(np.sin(2 * np.pi * phase), 0.5, 1.) * 2 - 1  # crests
    img = _fill(h, w, base) + 70. * wave[..., None] * np.array(
        [0.6, 0.8, 1.], np.float32)
    return img + 10. * _smooth_noise(rng, h, w, 8)


def _grass(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = jitter_colour(rng, (60, 135, 45), 12)
    img = _fill(h, w, base)
    img = np.ascontiguousarray(img + 15. * _smooth_noise(rng, h, w, 6, 3))
    n = max(4, h * w // 10)  # grass blades: short, slanted strokes
    x, y = rng.integers(0, w, n), rng.integers(0, h, n)
    dx, length = rng.integers(-2, 3, n), rng.integers(3, 8, n)
    blades = np.stack([np.stack([x, y], 1),
                       np.stack([x + dx, y - length], 1)], 1).astype(np.int32)
    dark = rng.random(n) < 0.5
    for sel, shade in ((dark, 0.55), (~dark, 1.35)):
        colour = tuple(float(v) for v in np.clip(base * shade, 0, 255))
        cv2.polylines(img, list(blades[sel]), False, colour, 1)
    return img


def _rails(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = _fill(h, w, jitter_colour(rng, (135, 128, 118), 10))
    img = np.ascontiguousarray(img + rng.normal(0., 18., (h, w, 1)))
    tie = tuple(float(v) for v in jitter_colour(rng, (95, 60, 35), 10))
    period = rng.uniform(7., 10.)
    top, bottom = int(0.2 * h), int(0.8 * h)
    for x in np.arange(rng.uniform(0, period), w, period):
        cv2.rectangle(img, (int(x), top), (int(x) + 3, bottom), tie, -1)
    for frac in (0.35, 0.65):
        y = int(frac * h)
        cv2.line(img, (0, y), (w - 1, y), (55., 55., 60.), 3)
        cv2.line(img, (0, y - 1), (w - 1, y - 1), (190., 190., 195.), 1)
    return img


def _road(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = _fill(h, w, jitter_colour(rng, (62, 62, 66), 8))
    img = np.ascontiguousarray(img + rng.normal(0., 10., (h, w, 1)))
    y = h // 2
    dash, gap = int(rng.integers(7, 11)), int(rng.integers(5, 8))
    for x in range(int(rng.integers(0, dash + gap)) - dash - gap, w,
                   dash + gap):
        cv2.line(img, (x, y), (x + dash, y), (235., 200., 40.), 2)
    for yy in (max(1, h // 8), h - 1 - max(1, h // 8)):
        cv2.line(img, (0, yy), (w - 1, yy), (225., 225., 225.), 1)
    return img


def _clouds(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = np.ascontiguousarray(
        _fill(h, w, jitter_colour(rng, (160, 205, 245), 10)))
    puffs = np.zeros((h, w), np.float32)
    for _ in range(max(3, h * w // 150)):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(puffs, centre, int(rng.integers(3, 9)), 1., -1)
    puffs = cv2.GaussianBlur(puffs, (0, 0), 1.5)[..., None]
    return img * (1 - puffs) + 250. * puffs


def _carpet(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = jitter_colour(rng, (115, 25, 35), 10)
    gold = jitter_colour(rng, (210, 160, 70), 10)
    period = rng.uniform(8., 12.)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = (np.abs(np.mod(xx, period) - period / 2) +
         np.abs(np.mod(yy, period) - period / 2))
    ring = np.abs(d - period / 4) < 1.0  # diamond outlines
    img = np.where(ring[..., None], gold, base).astype(np.float32)
    return img + rng.normal(0., 6., (h, w, 1)).astype(np.float32)


CONTEXT_PAINTERS: Dict[str, Callable[[np.random.Generator, int, int],
                                     np.ndarray]] = {
    'water': _water,
    'grass': _grass,
    'rails': _rails,
    'road': _road,
    'clouds': _clouds,
    'carpet': _carpet,
}


def context_texture(rng: np.random.Generator, name: str, h: int,
                    w: int) -> np.ndarray:
    """The texture of a co-occurring context.

    Args:
        rng (np.random.Generator): Random source.
        name (str): A name of ``DEMO_CONTEXTS``.
        h (int): Height.
        w (int): Width.

    Returns:
        np.ndarray: float32 (h, w, 3) RGB.
    """
    if name not in CONTEXT_PAINTERS:
        raise ValueError(f'unknown context {name!r}; expected one of '
                         f'{sorted(CONTEXT_PAINTERS)}')
    return CONTEXT_PAINTERS[name](rng, h, w).astype(np.float32)
