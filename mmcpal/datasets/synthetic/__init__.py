"""The synthetic demo data set: generator, metainfo and data set class."""
from .dataset import SyntheticWSSSDataset
from .generator import (demo_image_id, format_summary,
                        generate_demo_dataset)
from .metainfo import (DEMO_CLASSES, DEMO_CONTEXTS, DEMO_METAINFO,
                       DEMO_PARTS, DEMO_SUBTYPES)

__all__ = [
    'SyntheticWSSSDataset', 'generate_demo_dataset', 'format_summary',
    'demo_image_id', 'DEMO_CLASSES', 'DEMO_CONTEXTS', 'DEMO_METAINFO',
    'DEMO_PARTS', 'DEMO_SUBTYPES'
]
