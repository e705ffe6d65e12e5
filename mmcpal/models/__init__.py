"""Models of mmcpal; importing this registers them (the MODELS registry
imports it lazily when a config names one)."""
from . import amn, backbones, classifiers, cpal, decode_heads, irn  # noqa: F401
