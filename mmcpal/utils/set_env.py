"""Register every module of mmcpal (the OpenMMLab ``register_all_modules``)."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import all mmcpal modules so they are in the registries.

    MMEngine calls ``mmcpal.utils.register_all_modules(False)`` itself for a
    registry without import ``locations`` once ``'mmcpal'`` is a known scope
    (see :func:`mmcpal.utils.register_config_scopes`).

    Args:
        init_default_scope (bool): Also make ``'mmcpal'`` the default scope.
            Defaults to True.
    """
    import mmcpal.datasets  # noqa: F401
    import mmcpal.engine  # noqa: F401
    import mmcpal.engine.hooks  # noqa: F401
    import mmcpal.evaluation  # noqa: F401
    import mmcpal.models  # noqa: F401
    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != 'mmcpal':
        if current is not None:
            warnings.warn(f'The current default scope "{current.scope_name}"'
                          ' is not "mmcpal"; a new one named mmcpal-<time> '
                          'is created.')
        name = f'mmcpal-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='mmcpal')
