"""Split-level sampling of the demo set's scenes (which classes, which
contexts), before any pixel is drawn.

Context presence is assigned by quota rather than by independent coin flips,
so the co-occurrence statistics hold exactly (up to rounding) even on small
sets: per class, ``round((1 - context_rate) * n)`` of its ``n`` objects come
without their context, and ``round(lone_context_rate * N)`` of the ``N``
images carry one context whose class is absent.
"""
from typing import List, NamedTuple, Optional

import numpy as np

#: Probabilities of 1, 2 and 3 objects in an image.
NUM_OBJECT_PROBS = (0.45, 0.35, 0.20)
#: Probability that a further object repeats a class already in the image.
REPEAT_CLASS_PROB = 0.15


class SceneSpec(NamedTuple):
    """What one image shows, before placement and drawing.

    Attributes:
        classes (tuple[int, ...]): Class index 1..C of each object.
        with_context (tuple[bool, ...]): Whether each object stands on its
            class's context.
        lone_context (int | None): Class index whose context is drawn
            without any object of that class, or None.
        seed (int): Seed of the image's own random generator.
    """
    classes: tuple
    with_context: tuple
    lone_context: Optional[int]
    seed: int


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))


def _sample_classes(rng: np.random.Generator, num_classes: int,
                    max_objects: int) -> List[int]:
    probs = np.asarray(NUM_OBJECT_PROBS[:max_objects], np.float64)
    n = int(rng.choice(len(probs), p=probs / probs.sum())) + 1
    classes = [int(rng.integers(1, num_classes + 1))]
    while len(classes) < n:
        unused = [c for c in range(1, num_classes + 1) if c not in classes]
        if not unused or rng.random() < REPEAT_CLASS_PROB:
            classes.append(int(rng.choice(classes)))
        else:
            classes.append(int(rng.choice(unused)))
    return classes


def sample_scenes(rng: np.random.Generator, num_images: int,
                  num_classes: int, context_rate: float,
                  lone_context_rate: float,
                  max_objects: int = 3) -> List[SceneSpec]:
    """Sample the scenes of one split.

    Args:
        rng (np.random.Generator): The split's random source.
        num_images (int): Number of images N.
        num_classes (int): Number of foreground classes C.
        context_rate (float): Share of each class's objects drawn on their
            context.
        lone_context_rate (float): Share of images that show a context
            without its class.
        max_objects (int): Most objects per image (1..3). Defaults to 3.

    Returns:
        list[SceneSpec]: N scenes.
    """
    if not 1 <= max_objects <= len(NUM_OBJECT_PROBS):
        raise ValueError(f'max_objects must be in 1..{len(NUM_OBJECT_PROBS)},'
                         f' got {max_objects}')
    all_classes = [_sample_classes(rng, num_classes, max_objects)
                   for _ in range(num_images)]
    with_context = [[True] * len(c) for c in all_classes]
    for k in range(1, num_classes + 1):
        slots = [(i, j) for i, cs in enumerate(all_classes)
                 for j, c in enumerate(cs) if c == k]
        num_without = _round((1. - context_rate) * len(slots))
        for s in rng.permutation(len(slots))[:num_without]:
            i, j = slots[s]
            with_context[i][j] = False
    lone: List[Optional[int]] = [None] * num_images
    num_lone = _round(lone_context_rate * num_images)
    for i in rng.permutation(num_images)[:num_lone]:
        absent = [k for k in range(1, num_classes + 1)
                  if k not in all_classes[i]]
        lone[int(i)] = int(rng.choice(absent))
    seeds = rng.integers(0, 2**31 - 1, num_images)
    return [
        SceneSpec(tuple(c), tuple(w), lone[i], int(seeds[i]))
        for i, (c, w) in enumerate(zip(all_classes, with_context))
    ]

