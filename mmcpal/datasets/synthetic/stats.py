"""Statistics of a generated demo set, computed from its scene records."""
from collections import Counter
from typing import Dict, Sequence

import numpy as np

from .metainfo import DEMO_CLASSES, DEMO_CONTEXTS


def _rate(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.


def demo_statistics(records: Sequence[Dict]) -> Dict:
    """Per-class and overall statistics of scene records.

    Args:
        records (Sequence[dict]): Scene records as written to
            ``scenes.jsonl`` (see :func:`~.render.render_scene`).

    Returns:
        dict: ``overall`` (image / object counts, objects per image, size
        ranges, share of images with a context but not its class, mean part
        and context areas relative to the object) and ``classes`` (per class
        name: ``images``, ``objects``, ``objects_with_context``,
        ``images_with_context``, ``context_cooccurrence`` = images with the
        class standing on its context / images with the class,
        ``context_alone_images``, ``subtypes`` counts).
    """
    per_class = {}
    for k, name in enumerate(DEMO_CLASSES[1:], start=1):
        context = DEMO_CONTEXTS[k - 1]
        images = with_ctx = alone = objects = objects_ctx = 0
        subtypes: Counter = Counter()
        for r in records:
            objs = [o for o in r['objects'] if o['class_id'] == k]
            contexts = {o['context'] for o in r['objects'] if o['context']}
            if r['lone_context'] is not None:
                contexts.add(r['lone_context']['context'])
            images += bool(objs)
            objects += len(objs)
            objects_ctx += sum(o['context'] == context for o in objs)
            with_ctx += any(o['context'] == context for o in objs)
            alone += (not objs) and context in contexts
            subtypes.update(o['subtype'] for o in objs)
        per_class[name] = dict(
            context=context, images=images, objects=objects,
            objects_with_context=objects_ctx, images_with_context=with_ctx,
            context_cooccurrence=_rate(with_ctx, images),
            context_alone_images=alone,
            subtypes=dict(sorted(subtypes.items())))

    objs = [o for r in records for o in r['objects']]
    sides = [max(o['bbox'][2] - o['bbox'][0], o['bbox'][3] - o['bbox'][1])
             for o in objs]
    alone_images = 0
    for r in records:
        present = {o['class_id'] for o in r['objects']}
        contexts = {o['context'] for o in r['objects'] if o['context']}
        if r['lone_context'] is not None:
            contexts.add(r['lone_context']['context'])
        alone_images += any(DEMO_CONTEXTS.index(c) + 1 not in present
                            for c in contexts)
    overall = dict(
        images=len(records), objects=len(objs),
        objects_per_image={
            str(n): c
            for n, c in sorted(Counter(len(r['objects'])
                                       for r in records).items())
        },
        height=[min(r['height'] for r in records),
                max(r['height'] for r in records)] if records else [],
        width=[min(r['width'] for r in records),
               max(r['width'] for r in records)] if records else [],
        object_long_side=[min(sides), max(sides)] if sides else [],
        context_alone_images=alone_images,
        context_alone_rate=_rate(alone_images, len(records)),
        dropped_objects=sum(len(r['dropped']) for r in records),
        mean_part_share=round(float(np.mean(
            [o['part_area'] / max(o['area'], 1) for o in objs])), 4)
        if objs else 0.,
        mean_context_to_object_area=round(float(np.mean(
            [o['context_area'] / max(o['area'], 1) for o in objs
             if o['context']])), 4) if any(o['context'] for o in objs)
        else 0.)
    return dict(overall=overall, classes=per_class)
