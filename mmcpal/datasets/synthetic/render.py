"""Drawing of one demo image (RGB photo, label mask, scene record) from its
:class:`~.scene.SceneSpec`.

Order of painting: cluttered background, contexts (each under or around its
object; a lone context anywhere), objects from back (top) to front (bottom)
with their discriminative part, sensor noise. The mask holds the class index
on object pixels, 0 elsewhere (contexts are background) and 255 on a band of
``void_radius`` pixels each side of every object outline, like VOC's void
border.
"""
from typing import Dict, List, NamedTuple, Optional, Tuple

import cv2
import numpy as np

from .metainfo import DEMO_CLASSES, DEMO_CONTEXTS, DEMO_SUBTYPES
from .scene import SceneSpec
from .shapes import add_part, object_box_size, render_object
from .textures import background, context_texture

IGNORE_INDEX = 255
#: Largest share of the smaller of two object boxes they may have in common.
MAX_BOX_OVERLAP = 0.1
#: Smallest share of a context's region that must lie inside the image.
MIN_CONTEXT_INSIDE = 0.6
#: Contexts drawn around the object (the others lie under it).
AROUND_CONTEXTS = ('clouds', )
#: Contexts drawn as ellipses (the others as rectangles).
ELLIPSE_CONTEXTS = ('water', 'grass', 'clouds')

Box = Tuple[int, int, int, int]  # x0, y0, x1, y1 with x1, y1 exclusive


class RenderConfig(NamedTuple):
    """Geometry of the demo images.

    Attributes:
        image_size (tuple[int, int]): Range (inclusive) of image height and
            width, drawn independently.
        object_size (tuple[int, int]): Range of an object's long side,
            drawn log-uniformly.
        void_radius (int): Half-width of the void band on object outlines.
        part_fraction (tuple[float, float]): Range of the part badge's side
            as a share of the object's long side.
    """
    image_size: Tuple[int, int] = (128, 192)
    object_size: Tuple[int, int] = (30, 90)
    void_radius: int = 2
    part_fraction: Tuple[float, float] = (0.16, 0.22)


def _overlap(a: Box, b: Box) -> float:
    """Intersection area over the smaller box's area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / small


def _inside_share(box: Box, width: int, height: int) -> float:
    area = (box[2] - box[0]) * (box[3] - box[1])
    iw = min(box[2], width) - max(box[0], 0)
    ih = min(box[3], height) - max(box[1], 0)
    return max(iw, 0) * max(ih, 0) / max(area, 1)


def _context_box(rng: np.random.Generator, context: str, obj: Box) -> Box:
    """The region of a context relative to its object's box."""
    w, h = obj[2] - obj[0], obj[3] - obj[1]
    cx = (obj[0] + obj[2]) / 2
    if context in AROUND_CONTEXTS:
        cw, ch = w * rng.uniform(1.7, 2.2), h * rng.uniform(1.7, 2.2)
        top = (obj[1] + obj[3]) / 2 - ch / 2
    else:
        cw, ch = w * rng.uniform(1.5, 2.2), h * rng.uniform(0.45, 0.8)
        cx += w * rng.uniform(-0.1, 0.1)
        top = obj[3] - h * rng.uniform(0.15, 0.35)
    x0, y0 = int(round(cx - cw / 2)), int(round(top))
    return x0, y0, x0 + int(round(cw)), y0 + int(round(ch))


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(lo * (hi / lo)**rng.random())


def _place_object(rng: np.random.Generator, cls: str, subtype: str,
                  context: Optional[str], taken: List[Box], width: int,
                  height: int, cfg: RenderConfig
                  ) -> Optional[Tuple[Box, Optional[Box]]]:
    """Find a box (and context box) by rejection sampling, or None."""
    size = _log_uniform(rng, *cfg.object_size)
    for attempt in range(90):
        if attempt and attempt % 10 == 0:
            size = max(size * 0.9, cfg.object_size[0] * 0.7)
        w, h = object_box_size(rng, cls, subtype, size)
        if w > width - 2 or h > height - 2:
            size *= 0.9
            continue
        x0 = int(rng.integers(0, width - w + 1))
        y0 = int(rng.integers(0, height - h + 1))
        box = (x0, y0, x0 + w, y0 + h)
        if any(_overlap(box, t) > MAX_BOX_OVERLAP for t in taken):
            continue
        ctx_box = None
        if context is not None:
            ctx_box = _context_box(rng, context, box)
            # after 60 failures accept a context that is half cut off
            need = MIN_CONTEXT_INSIDE if attempt < 60 else 0.5 * (
                MIN_CONTEXT_INSIDE)
            if _inside_share(ctx_box, width, height) < need:
                continue
        return box, ctx_box
    return None


def _lone_context_box(rng: np.random.Generator, context: str,
                      taken: List[Box], width: int, height: int,
                      cfg: RenderConfig) -> Box:
    box = (0, 0, 1, 1)
    for _ in range(30):
        s = _log_uniform(rng, *cfg.object_size)
        if context in AROUND_CONTEXTS:
            cw, ch = s * rng.uniform(1.2, 1.8), s * rng.uniform(1.2, 1.8)
        else:
            cw, ch = s * rng.uniform(1.5, 2.2), s * rng.uniform(0.5, 0.9)
        cw, ch = min(int(cw), width), min(int(ch), height)
        x0 = int(rng.integers(0, width - cw + 1))
        y0 = int(rng.integers(0, height - ch + 1))
        box = (x0, y0, x0 + cw, y0 + ch)
        if all(_overlap(box, t) <= 0.2 for t in taken):
            break
    return box


def _paint_context(rng: np.random.Generator, img: np.ndarray,
                   context: str, box: Box) -> np.ndarray:
    """Paint a context region in place; returns its (H, W) bool region."""
    height, width = img.shape[:2]
    full_w, full_h = box[2] - box[0], box[3] - box[1]
    alpha = np.zeros((height, width), np.float32)
    if context in ELLIPSE_CONTEXTS:
        cv2.ellipse(alpha, ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2),
                    (max(1, full_w // 2), max(1, full_h // 2)), 0, 0, 360, 1.,
                    -1)
    else:
        cv2.rectangle(alpha, (box[0], box[1]), (box[2] - 1, box[3] - 1), 1.,
                      -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.8)
    x0, y0 = max(box[0], 0), max(box[1], 0)
    x1, y1 = min(box[2], width), min(box[3], height)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((height, width), bool)
    tex = context_texture(rng, context, y1 - y0, x1 - x0)
    a = alpha[y0:y1, x0:x1, None]
    img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - a) + tex * a
    return alpha > 0.5


def _void_band(instances: np.ndarray, num: int, radius: int) -> np.ndarray:
    """Pixels within ``radius`` of an instance outline (both sides)."""
    band = np.zeros(instances.shape, bool)
    if radius <= 0:
        return band
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                       (2 * radius + 1, 2 * radius + 1))
    for i in range(1, num + 1):
        m = (instances == i).astype(np.uint8)
        if not m.any():
            continue
        grown = cv2.dilate(m, kernel, borderType=cv2.BORDER_CONSTANT,
                           borderValue=0)
        shrunk = cv2.erode(m, kernel, borderType=cv2.BORDER_CONSTANT,
                           borderValue=0)
        band |= (grown > 0) & (shrunk == 0)
    return band


def render_scene(spec: SceneSpec,
                 cfg: RenderConfig = RenderConfig()
                 ) -> Tuple[np.ndarray, np.ndarray, Dict]:
    """Draw one demo image.

    Args:
        spec (SceneSpec): What the image shows and its seed.
        cfg (RenderConfig): Geometry. Defaults to ``RenderConfig()``.

    Returns:
        tuple[np.ndarray, np.ndarray, dict]: uint8 (H, W, 3) RGB image,
        uint8 (H, W) mask (0..C, 255) and the scene record: ``width``,
        ``height``, ``objects`` (per object: ``class``, ``class_id``,
        ``subtype``, ``bbox`` [x0, y0, x1, y1] with exclusive ends,
        ``area`` visible pixels, ``part_bbox`` inclusive,
        ``part_area``, ``context`` name or None, ``context_area`` visible
        pixels), ``lone_context`` (``context``, ``class_id``, ``bbox``,
        ``area``) or None, and ``dropped`` (class ids that found no room).
    """
    rng = np.random.default_rng(spec.seed)
    lo, hi = cfg.image_size
    height, width = int(rng.integers(lo, hi + 1)), int(rng.integers(lo,
                                                                    hi + 1))
    img = background(rng, height, width)

    placed, taken, dropped = [], [], []
    for k, with_ctx in zip(spec.classes, spec.with_context):
        cls = DEMO_CLASSES[k]
        subtypes = DEMO_SUBTYPES[cls]
        subtype = subtypes[int(rng.integers(len(subtypes)))]
        context = DEMO_CONTEXTS[k - 1] if with_ctx else None
        found = _place_object(rng, cls, subtype, context, taken, width,
                              height, cfg)
        if found is None:
            dropped.append(k)
            continue
        taken.append(found[0])
        placed.append(dict(k=k, cls=cls, subtype=subtype, context=context,
                           box=found[0], ctx_box=found[1]))

    lone = None
    if spec.lone_context is not None:
        context = DEMO_CONTEXTS[spec.lone_context - 1]
        box = _lone_context_box(rng, context, taken, width, height, cfg)
        lone = dict(context=context, class_id=spec.lone_context, box=box,
                    region=_paint_context(rng, img, context, box))
    for obj in placed:
        if obj['context'] is not None:
            obj['ctx_region'] = _paint_context(rng, img, obj['context'],
                                               obj['ctx_box'])

    label = np.zeros((height, width), np.uint8)
    instances = np.zeros((height, width), np.int32)
    order = sorted(range(len(placed)), key=lambda i: placed[i]['box'][3])
    for i in order:
        obj = placed[i]
        x0, y0, x1, y1 = obj['box']
        obj_img, obj_mask = render_object(rng, obj['cls'], obj['subtype'],
                                          x1 - x0, y1 - y0)
        long_side = max(x1 - x0, y1 - y0)
        radius = int(round(rng.uniform(*cfg.part_fraction) * long_side / 2))
        part = add_part(rng, obj['cls'], obj_img, obj_mask, max(radius, 2),
                        cfg.void_radius + 1)
        obj['part_box'] = [part[0] + x0, part[1] + y0, part[2] + x0,
                           part[3] + y0]
        region = img[y0:y1, x0:x1]
        region[obj_mask] = obj_img[obj_mask]
        label[y0:y1, x0:x1][obj_mask] = obj['k']
        instances[y0:y1, x0:x1][obj_mask] = i + 1

    label[_void_band(instances, len(placed), cfg.void_radius)] = IGNORE_INDEX
    img += rng.normal(0., rng.uniform(3., 7.), img.shape).astype(np.float32)
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)

    free = instances == 0
    objects = []
    for i, obj in enumerate(placed):
        pb = obj['part_box']
        part_area = int(
            (instances[pb[1]:pb[3] + 1, pb[0]:pb[2] + 1] == i + 1).sum())
        objects.append(dict(
            **{'class': obj['cls']}, class_id=obj['k'],
            subtype=obj['subtype'], bbox=list(obj['box']),
            area=int((instances == i + 1).sum()), part_bbox=pb,
            part_area=part_area, context=obj['context'],
            context_area=int((obj['ctx_region'] & free).sum())
            if obj['context'] else 0))
    lone_rec = None if lone is None else dict(
        context=lone['context'], class_id=lone['class_id'],
        bbox=list(lone['box']), area=int((lone['region'] & free).sum()))
    record = dict(width=width, height=height, objects=objects,
                  lone_context=lone_rec, dropped=dropped)
    return img, label, record
