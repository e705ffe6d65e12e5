"""The Python API that ``tools/`` call."""
from .config import load_config, prepare_run_config
from .chain import run_chain
from .inference import init_model

__all__ = ['load_config', 'prepare_run_config', 'init_model', 'run_chain']
