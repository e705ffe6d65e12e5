"""Object silhouettes, sub-types and discriminative parts of the demo set.

A sub-type is a list of primitives in normalised coordinates (x right, y down,
both in [0, 1] of the object's box) plus a body texture and colours. A
primitive with ``fill=None`` shows the body texture; one with a fill name is
a solid detail (windows, wheels, sails). Every primitive belongs to the
object mask.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from .metainfo import DEMO_PARTS, DEMO_SUBTYPES
from .textures import BODY_COLOURS, body_texture, jitter_colour


class Primitive(NamedTuple):
    """One drawing primitive of a silhouette.

    ``kind`` is 'poly' (``args`` = flat x, y list), 'rect' (x0, y0, x1, y1),
    'ellipse' (cx, cy, half-width, half-height) or 'circle' (cx, cy, radius as
    a fraction of the box height).
    """
    kind: str
    args: Tuple[float, ...]
    fill: Optional[str] = None


class Subtype(NamedTuple):
    """A visual variant of a class."""
    aspect: Tuple[float, float]  # width / height range
    texture: str
    colours: Tuple[Tuple[str, str], ...]  # (base, pattern) choices
    prims: Tuple[Primitive, ...]


def _p(kind: str, *args: float, fill: Optional[str] = None) -> Primitive:
    return Primitive(kind, tuple(float(a) for a in args), fill)


SUBTYPES: Dict[str, Dict[str, Subtype]] = {
    'boat': {
        'sailboat': Subtype((0.8, 1.0), 'solid', (('red', 'white'),
                                                  ('navy', 'white'),
                                                  ('teal', 'cream')),
                            (_p('poly', 0, .6, 1, .6, .82, .95, .18, .95),
                             _p('rect', .47, .05, .53, .62, fill='brown'),
                             _p('poly', .55, .08, .55, .56, .92, .56,
                                fill='cream'),
                             _p('poly', .45, .16, .45, .56, .12, .56,
                                fill='white'))),
        'barge': Subtype((1.9, 2.4), 'stripes_h', (('black', 'red'),
                                                   ('navy', 'white'),
                                                   ('rust', 'grey')),
                         (_p('poly', 0, .42, 1, .42, .9, .95, .1, .95),
                          _p('rect', .25, .1, .6, .45, fill='white'),
                          _p('rect', .66, 0, .73, .45, fill='black'),
                          _p('rect', .3, .2, .4, .3, fill='window'),
                          _p('rect', .45, .2, .55, .3, fill='window'))),
    },
    'cow': {
        'spotted': Subtype((1.4, 1.6), 'spots', (('white', 'black'),
                                                 ('cream', 'brown')),
                           (_p('ellipse', .45, .42, .33, .22),
                            _p('ellipse', .84, .3, .12, .12),
                            _p('rect', .18, .5, .25, 1), _p('rect', .3, .5,
                                                            .37, 1),
                            _p('rect', .55, .5, .62, 1), _p('rect', .66, .5,
                                                            .73, 1),
                            _p('poly', .12, .38, .15, .4, .05, .75, .03,
                               .74))),
        'brown': Subtype((1.2, 1.35), 'solid', (('brown', 'cream'),
                                                ('rust', 'cream'),
                                                ('black', 'grey')),
                         (_p('ellipse', .45, .4, .36, .27),
                          _p('circle', .84, .28, .15),
                          _p('rect', .17, .55, .29, 1), _p('rect', .6, .55,
                                                           .72, 1),
                          _p('poly', .75, .1, .8, .16, .72, .2),
                          _p('ellipse', .45, .55, .2, .08, fill='cream'))),
    },
    'train': {
        'locomotive': Subtype((2.1, 2.5), 'solid', (('black', 'red'),
                                                    ('olive', 'mustard'),
                                                    ('navy', 'red')),
                              (_p('rect', 0, .3, .75, .85),
                               _p('rect', .75, .08, 1, .85),
                               _p('rect', .12, .05, .22, .3),
                               _p('rect', .8, .18, .94, .4, fill='window'),
                               _p('rect', 0, .55, .75, .62, fill='mustard'),
                               _p('circle', .15, .86, .13, fill='tyre'),
                               _p('circle', .38, .86, .13, fill='tyre'),
                               _p('circle', .6, .86, .13, fill='tyre'),
                               _p('circle', .87, .86, .13, fill='tyre'))),
        'tram': Subtype((1.8, 2.2), 'stripes_v', (('mustard', 'cream'),
                                                  ('red', 'white'),
                                                  ('teal', 'white')),
                        (_p('rect', .06, .1, .94, .9),
                         _p('circle', .07, .5, .38), _p('circle', .93, .5,
                                                        .38),
                         _p('rect', .1, .22, .3, .45, fill='window'),
                         _p('rect', .4, .22, .6, .45, fill='window'),
                         _p('rect', .7, .22, .9, .45, fill='window'))),
    },
    'car': {
        'sedan': Subtype((1.8, 2.2), 'solid', (('red', 'white'),
                                               ('grey', 'black'),
                                               ('navy', 'white'),
                                               ('mustard', 'black')),
                         (_p('rect', 0, .45, 1, .82),
                          _p('poly', .2, .46, .32, .12, .68, .12, .82, .46),
                          _p('poly', .3, .42, .36, .2, .48, .2, .48, .42,
                             fill='window'),
                          _p('poly', .53, .42, .53, .2, .64, .2, .72, .42,
                             fill='window'),
                          _p('circle', .22, .82, .17, fill='tyre'),
                          _p('circle', .78, .82, .17, fill='tyre'))),
        'van': Subtype((1.4, 1.7), 'stripes_h', (('white', 'teal'),
                                                 ('cream', 'rust'),
                                                 ('grey', 'white')),
                       (_p('rect', 0, .1, 1, .82),
                        _p('rect', .7, .18, .95, .45, fill='window'),
                        _p('circle', .2, .82, .17, fill='tyre'),
                        _p('circle', .8, .82, .17, fill='tyre'))),
    },
    'plane': {
        'jet': Subtype((1.5, 1.8), 'solid', (('white', 'grey'),
                                             ('grey', 'white'),
                                             ('navy', 'white')),
                       (_p('ellipse', .5, .5, .48, .16),
                        _p('poly', .38, .5, .62, .5, .36, .04, .28, .04),
                        _p('poly', .38, .5, .62, .5, .36, .96, .28, .96),
                        _p('poly', .02, .5, .14, .5, .08, .18, .01, .18),
                        _p('ellipse', .86, .47, .06, .04, fill='window'))),
        'biplane': Subtype((1.2, 1.45), 'checker', (('red', 'mustard'),
                                                    ('olive', 'cream'),
                                                    ('teal', 'white')),
                           (_p('rect', .05, .38, .92, .62),
                            _p('rect', .25, .12, .72, .24),
                            _p('rect', .25, .7, .72, .82),
                            _p('rect', .32, .2, .36, .74, fill='brown'),
                            _p('rect', .62, .2, .66, .74, fill='brown'),
                            _p('poly', .0, .5, .1, .5, .05, .25, .0, .25),
                            _p('ellipse', .95, .51, .03, .2, fill='black'))),
    },
    'sofa': {
        'couch': Subtype((1.7, 2.1), 'solid', (('teal', 'cream'),
                                               ('mustard', 'brown'),
                                               ('grey', 'white'),
                                               ('red', 'cream')),
                         (_p('rect', .05, .5, .95, .86),
                          _p('rect', .1, .14, .9, .55),
                          _p('rect', 0, .34, .14, .86),
                          _p('rect', .86, .34, 1, .86),
                          _p('rect', .08, .86, .13, 1, fill='brown'),
                          _p('rect', .87, .86, .92, 1, fill='brown'),
                          _p('rect', .49, .16, .51, .54, fill='black'))),
        'armchair': Subtype((0.85, 1.05), 'dots', (('navy', 'cream'),
                                                   ('olive', 'white'),
                                                   ('rust', 'cream')),
                            (_p('rect', .15, 0, .85, .55),
                             _p('rect', .1, .5, .9, .82),
                             _p('rect', 0, .3, .2, .82),
                             _p('rect', .8, .3, 1, .82),
                             _p('rect', .08, .82, .16, 1, fill='brown'),
                             _p('rect', .84, .82, .92, 1, fill='brown'))),
    },
}

assert {c: tuple(s) for c, s in SUBTYPES.items()} == DEMO_SUBTYPES, \
    'SUBTYPES and metainfo.DEMO_SUBTYPES must list the same sub-types'


def object_box_size(rng: np.random.Generator, cls: str, subtype: str,
                    size: float) -> Tuple[int, int]:
    """Width and height of an object's box whose long side is ``size``.

    Args:
        rng (np.random.Generator): Random source (draws the aspect ratio).
        cls (str): Class name.
        subtype (str): Sub-type name.
        size (float): Long side in pixels.

    Returns:
        tuple[int, int]: ``(w, h)``, each at least 8.
    """
    aspect = rng.uniform(*SUBTYPES[cls][subtype].aspect)
    if aspect >= 1:
        w, h = size, size / aspect
    else:
        w, h = size * aspect, size
    return max(8, int(round(w))), max(8, int(round(h)))


def _draw(canvas: np.ndarray, prim: Primitive, w: int, h: int,
          jitter: np.ndarray, value) -> None:
    """Draw a primitive with coordinate jitter onto ``canvas`` in place."""
    a = np.clip(np.asarray(prim.args) + jitter[:len(prim.args)], 0., 1.)
    sx, sy = w - 1, h - 1
    if prim.kind == 'poly':
        pts = np.stack([a[0::2] * sx, a[1::2] * sy], 1)
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], value)
    elif prim.kind == 'rect':
        cv2.rectangle(canvas, (int(round(a[0] * sx)), int(round(a[1] * sy))),
                      (int(round(a[2] * sx)), int(round(a[3] * sy))), value,
                      -1)
    elif prim.kind == 'ellipse':
        cv2.ellipse(canvas, (int(round(a[0] * sx)), int(round(a[1] * sy))),
                    (max(1, int(round(a[2] * sx))),
                     max(1, int(round(a[3] * sy)))), 0, 0, 360, value, -1)
    elif prim.kind == 'circle':
        cv2.circle(canvas, (int(round(a[0] * sx)), int(round(a[1] * sy))),
                   max(1, int(round(a[2] * sy))), value, -1)
    else:
        raise ValueError(f'unknown primitive kind {prim.kind!r}')


def render_object(rng: np.random.Generator, cls: str, subtype: str, w: int,
                  h: int) -> Tuple[np.ndarray, np.ndarray]:
    """Paint one object (without its part) in its own ``h x w`` box.

    Args:
        rng (np.random.Generator): Random source.
        cls (str): Class name.
        subtype (str): Sub-type name.
        w (int): Box width.
        h (int): Box height.

    Returns:
        tuple[np.ndarray, np.ndarray]: float32 (h, w, 3) RGB and bool (h, w)
        object mask. Randomly mirrored left-right.
    """
    spec = SUBTYPES[cls][subtype]
    base, pattern = spec.colours[int(rng.integers(len(spec.colours)))]
    colours = (jitter_colour(rng, BODY_COLOURS[base]),
               jitter_colour(rng, BODY_COLOURS[pattern]))
    img = np.ascontiguousarray(body_texture(rng, spec.texture, h, w, colours))
    mask = np.zeros((h, w), np.uint8)
    for prim in spec.prims:
        jitter = rng.normal(0., 0.015, 8)
        _draw(mask, prim, w, h, jitter, 1)
        if prim.fill is not None:
            colour = jitter_colour(rng, BODY_COLOURS[prim.fill], 8)
            _draw(img, prim, w, h, jitter, tuple(float(c) for c in colour))
    if rng.random() < 0.5:
        img, mask = img[:, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(img), mask.astype(bool)


def _badge(canvas: np.ndarray, shape: str, cx: int, cy: int, r: int,
           outer: Sequence[float], inner: Sequence[float]) -> None:
    """Draw a part badge of half-size ``r`` centred at (cx, cy) in place."""
    ri = max(1, int(round(r * 0.5)))
    outer, inner = tuple(map(float, outer)), tuple(map(float, inner))
    if shape == 'disc':
        cv2.circle(canvas, (cx, cy), r, outer, -1)
        cv2.circle(canvas, (cx, cy), ri, inner, -1)
    elif shape == 'square':
        cv2.rectangle(canvas, (cx - r, cy - r), (cx + r, cy + r), outer, -1)
        cv2.rectangle(canvas, (cx - ri, cy - ri), (cx + ri, cy + ri), inner,
                      -1)
    elif shape == 'diamond':
        for rr, col in ((r, outer), (ri, inner)):
            pts = np.array([[cx, cy - rr], [cx + rr, cy], [cx, cy + rr],
                            [cx - rr, cy]], np.int32)
            cv2.fillPoly(canvas, [pts], col)
    elif shape == 'triangle':  # equilateral, centroid at (cx, cy)
        for rr, col in ((1.3 * r, outer), (0.7 * r, inner)):
            pts = np.array([[cx, cy - rr], [cx + 0.866 * rr, cy + rr / 2],
                            [cx - 0.866 * rr, cy + rr / 2]])
            cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], col)
    elif shape == 'cross':
        cv2.rectangle(canvas, (cx - r, cy - r), (cx + r, cy + r), inner, -1)
        t = max(1, r // 3)
        cv2.rectangle(canvas, (cx - r, cy - t), (cx + r, cy + t), outer, -1)
        cv2.rectangle(canvas, (cx - t, cy - r), (cx + t, cy + r), outer, -1)
    elif shape == 'ring':
        cv2.circle(canvas, (cx, cy), r, outer, -1)
        cv2.circle(canvas, (cx, cy), max(1, int(round(r * 0.7))), inner, -1)
        cv2.circle(canvas, (cx, cy), max(1, int(round(r * 0.3))), outer, -1)
    else:
        raise ValueError(f'unknown part shape {shape!r}')


def add_part(rng: np.random.Generator, cls: str, img: np.ndarray,
             mask: np.ndarray, radius: int, margin: int) -> List[int]:
    """Paint the class's discriminative badge inside the object, in place.

    The badge centre is drawn uniformly among pixels at least
    ``radius * sqrt(2) + margin`` away from the object's outline (so the
    whole badge lies inside the mask and outside the void band); the radius
    shrinks when the object is too thin, then the margin drops to 1 pixel,
    and as a last resort a badge of half-size 1 goes to the deepest pixel.

    Args:
        rng (np.random.Generator): Random source.
        cls (str): Class name.
        img (np.ndarray): float32 (h, w, 3) object image, modified in place.
        mask (np.ndarray): bool (h, w) object mask.
        radius (int): Wanted badge half-size in pixels.
        margin (int): Extra distance from the outline in pixels.

    Returns:
        list[int]: The badge box ``[x0, y0, x1, y1]`` (inclusive) in object
        coordinates.
    """
    padded = np.pad(mask.astype(np.uint8), 1)  # the box edge is outline too
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    shape, outer, inner = DEMO_PARTS[cls]
    for m in (margin, 1):
        for r in range(radius, 1, -1):
            ys, xs = np.nonzero(dist >= r * 1.415 + m)
            if len(xs):
                i = int(rng.integers(len(xs)))
                cx, cy = int(xs[i]), int(ys[i])
                _badge(img, shape, cx, cy, r, outer, inner)
                return [cx - r, cy - r, cx + r, cy + r]
    cy, cx = np.unravel_index(int(np.argmax(dist)), dist.shape)
    _badge(img, shape, int(cx), int(cy), 1, outer, inner)
    return [int(cx) - 1, int(cy) - 1, int(cx) + 1, int(cy) + 1]
