from .compat import (exit_after_distributed, register_config_scopes,
                     setup_cpu_distributed, teardown_distributed)
from .set_env import register_all_modules

__all__ = [
    'register_config_scopes', 'setup_cpu_distributed', 'teardown_distributed',
    'exit_after_distributed', 'register_all_modules'
]
