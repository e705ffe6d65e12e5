"""The Python API that ``tools/`` call."""
from .config import load_config, prepare_run_config

__all__ = ['load_config', 'prepare_run_config']
