"""Models of mmcpal; importing this registers them (the MODELS registry
imports it lazily when a config names one)."""
from . import backbones, classifiers, cpal, irn  # noqa: F401
