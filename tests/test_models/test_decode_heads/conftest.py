"""Speed-up for loading configs that inherit ``mmseg::_base_/...`` files.

For every ``mmseg::`` base MMEngine's ``_get_external_cfg_path`` parses all
~160 metafiles of MMSeg's model index (1-3 s of CPU here) before failing with
a ValueError for ``_base_/`` paths, which are never in the index, and only
then falls back to ``<package>/.mim/configs/<path>``. The fixture raises that
ValueError at once for ``_base_/`` paths: the same path is returned, without
the parsing. Model configs (not ``_base_/``) still go through the index.
"""
import pytest
from mmengine.config import config as mmengine_config


@pytest.fixture(autouse=True, scope='module')
def fast_mmseg_base_paths():
    original = mmengine_config._get_external_cfg_path

    def get_external_cfg_path(package_path: str, cfg_file: str) -> str:
        if cfg_file.startswith('_base_/'):
            raise ValueError(f'{cfg_file} is a base config (no metafile)')
        return original(package_path, cfg_file)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mmengine_config, '_get_external_cfg_path',
                      get_external_cfg_path)
        yield
