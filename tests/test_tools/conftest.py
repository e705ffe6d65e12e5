"""Fixtures of the tool tests: a small demo data set, made once per session."""
import os.path as osp
import socket

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """A 32 + 8 image synthetic demo set (VOC layout)."""
    from mmcpal.datasets.synthetic import generate_demo_dataset
    root = str(tmp_path_factory.mktemp('demo'))
    generate_demo_dataset(root, num_train=32, num_val=8, seed=1)
    return root


@pytest.fixture
def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='session')
def repo():
    return REPO
