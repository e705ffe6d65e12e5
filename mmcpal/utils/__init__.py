from .compat import (register_config_scopes, setup_cpu_distributed,
                     teardown_distributed)
from .set_env import register_all_modules

__all__ = [
    'register_config_scopes', 'setup_cpu_distributed', 'teardown_distributed',
    'register_all_modules'
]
