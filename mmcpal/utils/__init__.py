from .compat import register_config_scopes, setup_cpu_distributed

__all__ = ['register_config_scopes', 'setup_cpu_distributed']
