"""The Python API that ``tools/`` call."""
from mmcpal.stack import require_stack

require_stack()  # one clear message if the OpenMMLab stack is not usable

from .config import load_config, prepare_run_config  # noqa: E402
from .chain import run_chain  # noqa: E402
from .inference import init_model  # noqa: E402

__all__ = ['load_config', 'prepare_run_config', 'init_model', 'run_chain']
