"""Which OpenMMLab stack is installed, and can mmcpal run on it?

``pip install mmcpal`` does not install an OpenMMLab stack: either the
maintained ``onedl-*`` forks (``pip install 'mmcpal[onedl]'``, what the
project's scripts install) or the user's own upstream installation (``mmcv``
with compiled ops, ``mmsegmentation``, ...). Both install the same modules
(``mmengine``, ``mmcv``, ``mmseg``, ``mmpretrain``) under different
distribution names.

:func:`require_stack` is called by mmcpal's entry points (:mod:`mmcpal.apis`
and ``tools/*.py``) before anything imports those modules. It reads the
installed distributions with :mod:`importlib.metadata` (nothing is imported)
and, when something is missing, out of range or known not to work, raises one
:class:`StackError` whose message names the problem and the command that fixes
it, instead of a traceback from deep inside mmseg. ``import mmcpal`` itself
stays light and does not check.

This module imports only the standard library (and ``packaging`` when it is
there), so it works in an environment without any OpenMMLab package.
"""
import importlib.util
import os
import warnings
from importlib import metadata
from typing import Dict, List, NamedTuple, Optional, Tuple

#: Set to 1 to skip the check (for an unusual installation you know works).
SKIP_ENV = 'MMCPAL_SKIP_STACK_CHECK'


class Component(NamedTuple):
    """One OpenMMLab package as the two stacks distribute it."""
    title: str  # human name
    module: str  # import name, the same in both stacks
    fork: str  # distribution name of the maintained fork
    fork_min: str  # lowest fork release mmcpal works with
    upstream: str  # distribution name upstream
    upstream_min: str  # lowest upstream release mmcpal works with
    upstream_max: Optional[str]  # first upstream release known not to


#: Bounds: see docs/install.md ("How each bound was found").
COMPONENTS: Tuple[Component, ...] = (
    Component('MMEngine', 'mmengine', 'onedl-mmengine', '0.10.9', 'mmengine',
              '0.10.0', '1.0.0'),
    # MMSegmentation 1.x asserts mmcv < 2.2.0 at import (mmseg#3729).
    Component('MMCV', 'mmcv', 'onedl-mmcv', '2.3.2', 'mmcv', '2.0.0rc4',
              '2.2.0'),
    Component('MMSegmentation', 'mmseg', 'onedl-mmsegmentation', '1.4.0',
              'mmsegmentation', '1.0.0', '2.0.0'),
    Component('MMPretrain', 'mmpretrain', 'onedl-mmpretrain', '1.3.0',
              'mmpretrain', '1.0.0', '2.0.0'),
)

FORK_COMMAND = "pip install 'mmcpal[onedl]'"
UPSTREAM_COMMAND = ('pip install -U openmim && mim install ' + ' '.join(
    f"'{c.upstream}>={c.upstream_min},<{c.upstream_max}'"
    for c in COMPONENTS))
DOCS = 'docs/install.md of mmcpal'


class StackError(ImportError):
    """The OpenMMLab stack cannot run mmcpal; the message says what to do."""


class StackReport(NamedTuple):
    """What :func:`detect_stack` found."""
    kind: str  # 'onedl', 'upstream', 'mixed' or 'none'
    found: Dict[str, Tuple[str, Optional[str]]]  # module -> (dist, version)
    problems: List[str]  # each a sentence with the command that fixes it
    warnings: List[str]  # works, with a known limitation


def installed_version(dist: str) -> Optional[str]:
    """Version of the installed distribution ``dist``, or None.

    The single place that reads installed distributions: tests monkeypatch it
    to simulate the other stack.
    """
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _module_present(module: str) -> bool:
    """Whether ``module`` can be found without a distribution (source
    checkout on ``PYTHONPATH``). Finds, never imports."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _version_tuple(version: str):
    """Comparable version (``packaging`` if present, else numeric parts)."""
    try:
        from packaging.version import Version
        return Version(version)
    except Exception:  # noqa: BLE001 - packaging absent or odd version
        import re
        parts = re.findall(r'\d+', version)[:3]
        return tuple(int(p) for p in parts)


def _at_least(version: str, minimum: str) -> bool:
    return _version_tuple(version) >= _version_tuple(minimum)


def _fork_install(missing: List[Component]) -> str:
    return 'pip install ' + ' '.join(f"'{c.fork}>={c.fork_min}'"
                                     for c in missing)


def _upstream_install(missing: List[Component]) -> str:
    return 'pip install -U openmim && mim install ' + ' '.join(
        f"'{c.upstream}>={c.upstream_min},<{c.upstream_max}'"
        for c in missing)


def detect_stack() -> StackReport:
    """Read the installed OpenMMLab distributions and judge them."""
    found: Dict[str, Tuple[str, Optional[str]]] = {}
    problems: List[str] = []
    notes: List[str] = []
    kinds = set()
    missing: List[Component] = []
    for comp in COMPONENTS:
        fork_v = installed_version(comp.fork)
        up_name, up_v = comp.upstream, installed_version(comp.upstream)
        if comp.module == 'mmcv' and up_v is None:
            # mmcv-lite: the same Python package without compiled ops.
            up_name, up_v = 'mmcv-lite', installed_version('mmcv-lite')
        if fork_v is not None and up_v is not None:
            problems.append(
                f'both {comp.fork} {fork_v} and {up_name} {up_v} are '
                f'installed: they write the same files ({comp.module}/), so '
                'neither is intact. Remove both and reinstall one: '
                f'pip uninstall -y {comp.fork} {up_name}, then '
                f"{_fork_install([comp])} or {_upstream_install([comp])}.")
            found[comp.module] = (comp.fork, fork_v)
            kinds.add('mixed')
            continue
        if fork_v is not None:
            found[comp.module] = (comp.fork, fork_v)
            kinds.add('onedl')
            if not _at_least(fork_v, comp.fork_min):
                problems.append(
                    f'{comp.fork} {fork_v} is older than mmcpal supports '
                    f"(>={comp.fork_min}): pip install -U "
                    f"'{comp.fork}>={comp.fork_min}'.")
            continue
        if up_v is not None:
            found[comp.module] = (up_name, up_v)
            kinds.add('upstream')
            ok = _at_least(up_v, comp.upstream_min) and (
                comp.upstream_max is None
                or not _at_least(up_v, comp.upstream_max))
            if not ok:
                why = (' (MMSegmentation 1.x refuses mmcv>=2.2.0 at import)'
                       if comp.module == 'mmcv' else '')
                problems.append(
                    f'{up_name} {up_v} is outside the range mmcpal supports '
                    f'(>={comp.upstream_min},<{comp.upstream_max}){why}: '
                    f'{_upstream_install([comp])}.')
            continue
        if _module_present(comp.module):
            # A source checkout without distribution metadata: trust it.
            found[comp.module] = ('(no distribution)', None)
            continue
        missing.append(comp)

    if missing:
        names = ', '.join(c.title for c in missing)
        if not found:
            problems.append(
                'mmcpal needs the OpenMMLab 2.x stack (MMEngine, MMCV, '
                'MMSegmentation, MMPretrain) and none of it is installed. '
                f'New environment (the maintained forks, pure Python): '
                f'{FORK_COMMAND}. Existing upstream OpenMMLab setup: '
                f'{UPSTREAM_COMMAND}.')
        elif kinds == {'upstream'}:
            problems.append(f'missing: {names} (the rest is upstream '
                            f'OpenMMLab): {_upstream_install(missing)}.')
        else:
            problems.append(f'missing: {names} (the rest is the onedl '
                            f'forks): {_fork_install(missing)} (or '
                            f'{FORK_COMMAND}).')

    seg = found.get('mmseg', ('', None))[0]
    cv = found.get('mmcv', ('', None))[0]
    if seg == 'mmsegmentation' and cv == 'mmcv-lite':
        problems.append(
            'mmcv-lite has no compiled ops and upstream MMSegmentation 1.x '
            'imports mmcv.ops unguarded: pip uninstall -y mmcv-lite, then '
            f"{_upstream_install([COMPONENTS[1]])} (or switch to the forks: "
            f'{FORK_COMMAND}).')

    engine, engine_v = found.get('mmengine', ('', None))
    if engine == 'mmengine' and engine_v and not _at_least(engine_v,
                                                           '0.10.8'):
        # Upstream MMEngine <= 0.10.7 finds other packages' configs with
        # pkg_resources, which setuptools >= 82 no longer ships.
        if not _module_present('pkg_resources'):
            problems.append(
                f'mmengine {engine_v} needs pkg_resources (for mmseg:: '
                'config inheritance), which setuptools>=82 no longer ships: '
                "pip install 'setuptools<82'.")
        torch_v = installed_version('torch')
        if torch_v and _at_least(torch_v, '2.6'):
            notes.append(
                f'mmengine {engine_v} with torch {torch_v}: --resume and '
                'load_from of MMEngine checkpoints fail (torch.load '
                'defaults to weights_only=True since torch 2.6; '
                'open-mmlab/mmengine#1655). Use onedl-mmengine or torch<2.6 '
                'for those.')

    if installed_version('torchvision') is None and not _module_present(
            'torchvision'):
        problems.append(
            'torchvision is not installed (mmpretrain.models imports it): '
            'pip install torchvision, the build that matches your torch.')

    if not kinds:
        kind = 'none'
    elif len(kinds) == 1:
        kind = kinds.pop()
    else:
        kind = 'mixed'
    return StackReport(kind, found, problems, notes)


def format_problems(report: StackReport) -> str:
    """One message for all problems of ``report``."""
    lines = ['mmcpal cannot start: the OpenMMLab stack is not usable.']
    lines += [f'  - {p}' for p in report.problems]
    lines.append(f'See {DOCS} (set {SKIP_ENV}=1 to skip this check).')
    return '\n'.join(lines)


_checked: Optional[StackReport] = None


def require_stack(exit: bool = False) -> Optional[StackReport]:
    """Check the stack once per process; raise one clear error if unusable.

    Args:
        exit (bool): For command-line tools: print the message and exit with
            status 1 (no traceback) instead of raising :class:`StackError`.

    Returns:
        StackReport | None: What was found (None when skipped by
        ``MMCPAL_SKIP_STACK_CHECK=1``).
    """
    global _checked
    if _checked is not None:
        return _checked
    if os.environ.get(SKIP_ENV, '') not in ('', '0'):
        return None
    report = detect_stack()
    if report.problems:
        message = format_problems(report)
        if exit:
            raise SystemExit(message)
        raise StackError(message)
    for note in report.warnings:
        warnings.warn(note, stacklevel=2)
    _checked = report
    return report


def fork_installed(module: str) -> bool:
    """Whether ``module`` (e.g. ``'mmseg'``) comes from its onedl fork."""
    for comp in COMPONENTS:
        if comp.module == module:
            return installed_version(comp.fork) is not None
    return False
