"""Install mmcpal.

Configs and tools are shipped inside the package, under ``mmcpal/.mim``, the
OpenMMLab way, so ``_base_ = 'mmcpal::...'`` works after a plain install.
"""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'requirements', 'model-index.yml')


def read_requirements(name: str) -> list:
    """Read ``requirements/<name>.txt`` without comments or blank lines."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def add_mim_extension() -> None:
    """Link configs, tools and the model index into ``mmcpal/.mim``.

    Relative symbolic links: an editable install sees edits at once, and a
    wheel build copies the linked files' contents into the wheel.
    """
    mim_root = osp.join(HERE, 'mmcpal', '.mim')
    os.makedirs(mim_root, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(HERE, name)
        dst = osp.join(mim_root, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        os.symlink(osp.relpath(src, mim_root), dst)


def version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'mmcpal', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmcpal',
        version=version(),
        description='Context Prototype-Aware Learning (CPAL) for weakly '
        'supervised semantic segmentation, on OpenMMLab',
        long_description=open(osp.join(HERE, 'README.md')).read()
        if osp.exists(osp.join(HERE, 'README.md')) else '',
        long_description_content_type='text/markdown',
        license='Apache-2.0',
        python_requires='>=3.10',
        packages=find_packages(exclude=('configs', 'tools', 'tests',
                                        'benchmarks', 'docs')),
        include_package_data=True,
        package_data={'mmcpal': ['.mim/**/*']},
        # Ranges only; the tested pins are requirements/constraints.txt,
        # which scripts/install.sh passes with -c.
        install_requires=read_requirements('runtime'),
        extras_require={
            # The maintained OpenMMLab forks. Without it, mmcpal uses the
            # OpenMMLab installation already present (checked at import of
            # mmcpal.apis and the tools: mmcpal/stack.py).
            'onedl': read_requirements('onedl'),
            'crf': read_requirements('crf'),
            'coco': read_requirements('coco'),
            'demo': read_requirements('demo'),
            'effnet': read_requirements('effnet'),
            'tests': read_requirements('tests'),
        },
        zip_safe=False)
