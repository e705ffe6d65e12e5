"""Class names, contexts, sub-types and palette of the synthetic demo set.

Each of the six object classes has its own background *context* (a textured
region drawn under or around the object, like water under boats) and two
visually different *sub-types*. The contexts are background (mask value 0):
they are what a CAM baseline wrongly activates on.
"""
from typing import Dict, List, Tuple

import numpy as np


def voc_colormap(num_entries: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map.

    The bit-interleaving rule of the VOC development kit
    (``VOCdevkit/VOCcode/VOClabelcolormap.m``; the same rule as
    ``imgviz.label_colormap``): entry ``i`` spreads the bits of ``i`` over
    the high bits of R, G and B. Entry 255 is (224, 224, 192), the colour of
    the void border.

    Args:
        num_entries (int): Number of entries. Defaults to 256.

    Returns:
        np.ndarray: uint8 (num_entries, 3) RGB colours.
    """
    if not 0 < num_entries <= 256:
        raise ValueError(f'num_entries must be in 1..256, got {num_entries}')
    cmap = np.zeros((num_entries, 3), dtype=np.uint8)
    for i in range(num_entries):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


#: 'background' first (MMSeg style); mask value i is DEMO_CLASSES[i].
DEMO_CLASSES: Tuple[str, ...] = ('background', 'boat', 'cow', 'train', 'car',
                                 'plane', 'sofa')

#: The co-occurring context of each foreground class (same order).
DEMO_CONTEXTS: Tuple[str, ...] = ('water', 'grass', 'rails', 'road', 'clouds',
                                  'carpet')

#: Sub-type names of each foreground class (shape / colour / texture variants).
DEMO_SUBTYPES: Dict[str, Tuple[str, ...]] = {
    'boat': ('sailboat', 'barge'),
    'cow': ('spotted', 'brown'),
    'train': ('locomotive', 'tram'),
    'car': ('sedan', 'van'),
    'plane': ('jet', 'biplane'),
    'sofa': ('couch', 'armchair'),
}

_RGB = Tuple[int, int, int]

#: The discriminative part (marking) of each class: badge shape and its two
#: colours (RGB). The colours appear nowhere else in the data.
DEMO_PARTS: Dict[str, Tuple[str, _RGB, _RGB]] = {
    'boat': ('disc', (255, 220, 0), (0, 40, 255)),
    'cow': ('square', (255, 0, 200), (0, 255, 60)),
    'train': ('diamond', (0, 255, 255), (220, 0, 0)),
    'car': ('triangle', (255, 120, 0), (120, 0, 255)),
    'plane': ('cross', (170, 255, 0), (0, 0, 0)),
    'sofa': ('ring', (255, 255, 255), (255, 0, 90)),
}

_PALETTE = voc_colormap(len(DEMO_CLASSES))

#: Metainfo of the demo set (MMEngine ``BaseDataset.METAINFO`` style).
DEMO_METAINFO: Dict[str, object] = dict(
    classes=DEMO_CLASSES,
    palette=[[int(v) for v in rgb] for rgb in _PALETTE],
)


def demo_class_names() -> List[str]:
    """The C foreground class names of the demo set.

    Returns:
        list[str]: ``DEMO_CLASSES[1:]``.
    """
    return list(DEMO_CLASSES[1:])
