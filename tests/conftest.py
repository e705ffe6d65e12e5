"""Shared test settings: one torch thread per process (2-core machines)."""
import os

os.environ.setdefault('OMP_NUM_THREADS', '1')

import torch  # noqa: E402

torch.set_num_threads(1)


import importlib.util  # noqa: E402
import os.path as osp  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def load_script():
    """Import a script of the repository (``tools/x.py``, ``benchmarks/y.py``)
    as a module, for tests of its functions."""
    def load(relpath: str):
        name = relpath.replace('/', '_').replace('.py', '')
        spec = importlib.util.spec_from_file_location(
            name, osp.join(REPO_ROOT, relpath))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
