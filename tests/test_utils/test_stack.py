"""The OpenMMLab stack check of mmcpal's entry points (mmcpal/stack.py).

The installed distributions are simulated by monkeypatching
``mmcpal.stack.installed_version`` (the one place that reads them), so every
stack (forks, upstream, broken mixes) is tested on this machine.
"""
import os
import subprocess
import sys

import pytest

from mmcpal import stack

FORKS = {
    'onedl-mmengine': '0.10.12',
    'onedl-mmcv': '2.3.6',
    'onedl-mmsegmentation': '1.4.2',
    'onedl-mmpretrain': '1.3.6',
    'torch': '2.14.1',
    'torchvision': '0.29.1',
}
UPSTREAM = {
    'mmengine': '0.10.7',
    'mmcv': '2.1.0',
    'mmsegmentation': '1.2.2',
    'mmpretrain': '1.2.0',
    'torch': '2.1.2',
    'torchvision': '0.16.2',
}


@pytest.fixture
def simulate(monkeypatch):
    """Pretend exactly ``dists`` are installed (and no source checkout)."""

    def apply(dists, pkg_resources=True):
        monkeypatch.setattr(stack, 'installed_version', dists.get)
        present = set()
        if pkg_resources:
            present.add('pkg_resources')
        monkeypatch.setattr(stack, '_module_present', present.__contains__)
        monkeypatch.setattr(stack, '_checked', None)
        monkeypatch.delenv(stack.SKIP_ENV, raising=False)

    return apply


@pytest.mark.skipif(not stack.fork_installed('mmseg'),
                    reason='this environment runs upstream OpenMMLab')
def test_this_machine_has_the_forks_and_passes():
    report = stack.detect_stack()
    assert report.kind == 'onedl'
    assert report.problems == []
    assert report.found['mmseg'][0] == 'onedl-mmsegmentation'


def test_forks_pass(simulate):
    simulate(FORKS)
    report = stack.require_stack()
    assert report.kind == 'onedl' and report.warnings == []


def test_upstream_passes_with_the_weights_only_warning(simulate):
    simulate(UPSTREAM)
    report = stack.detect_stack()
    assert report.kind == 'upstream' and report.problems == []
    assert report.warnings == []  # torch 2.1: no weights_only default yet
    simulate(dict(UPSTREAM, torch='2.7.1'))
    with pytest.warns(UserWarning, match='weights_only'):
        report = stack.require_stack()
    assert report.kind == 'upstream'


def test_nothing_installed_names_both_commands(simulate):
    simulate({'torch': '2.14.1', 'torchvision': '0.29.1'})
    with pytest.raises(stack.StackError) as err:
        stack.require_stack()
    message = str(err.value)
    assert "pip install 'mmcpal[onedl]'" in message
    assert "mim install 'mmengine>=0.10.0,<1.0.0'" in message
    assert "'mmcv>=2.0.0rc4,<2.2.0'" in message
    assert 'none of it is installed' in message


def test_missing_fork_component_names_the_fork(simulate):
    dists = dict(FORKS)
    del dists['onedl-mmpretrain']
    simulate(dists)
    with pytest.raises(stack.StackError, match='missing: MMPretrain') as err:
        stack.require_stack()
    assert "pip install 'onedl-mmpretrain>=1.3.0'" in str(err.value)


def test_missing_upstream_component_names_upstream(simulate):
    dists = dict(UPSTREAM)
    del dists['mmsegmentation']
    simulate(dists)
    with pytest.raises(stack.StackError) as err:
        stack.require_stack()
    assert "mim install 'mmsegmentation>=1.0.0,<2.0.0'" in str(err.value)
    assert 'onedl' not in str(err.value).split('See')[0]


def test_mmcv_too_new_for_upstream_mmseg(simulate):
    simulate(dict(UPSTREAM, mmcv='2.2.0'))
    with pytest.raises(stack.StackError, match='refuses mmcv>=2.2.0'):
        stack.require_stack()


def test_old_fork_is_refused(simulate):
    simulate(dict(FORKS, **{'onedl-mmcv': '2.3.0'}))
    with pytest.raises(stack.StackError, match="'onedl-mmcv>=2.3.2'"):
        stack.require_stack()


def test_fork_and_upstream_of_one_package(simulate):
    simulate(dict(FORKS, mmcv='2.1.0'))
    with pytest.raises(stack.StackError, match='both onedl-mmcv 2.3.6 and '
                       'mmcv 2.1.0 are installed'):
        stack.require_stack()


def test_mmcv_lite_with_upstream_mmseg(simulate):
    dists = dict(UPSTREAM)
    del dists['mmcv']
    dists['mmcv-lite'] = '2.1.0'
    simulate(dists)
    with pytest.raises(stack.StackError, match='mmcv-lite has no compiled'):
        stack.require_stack()


def test_upstream_mmengine_without_pkg_resources(simulate):
    simulate(UPSTREAM, pkg_resources=False)
    with pytest.raises(stack.StackError, match="'setuptools<82'"):
        stack.require_stack()


def test_missing_torchvision(simulate):
    dists = dict(FORKS)
    del dists['torchvision']
    simulate(dists)
    with pytest.raises(stack.StackError, match='torchvision'):
        stack.require_stack()


def test_skip_variable(simulate, monkeypatch):
    simulate({})
    monkeypatch.setenv(stack.SKIP_ENV, '1')
    assert stack.require_stack() is None


def test_all_problems_in_one_message(simulate):
    simulate({'onedl-mmcv': '2.3.0', 'torch': '2.14.1'})
    with pytest.raises(stack.StackError) as err:
        stack.require_stack()
    message = str(err.value)
    assert message.count('\n  - ') == 3  # old mmcv, missing, torchvision
    assert message.startswith('mmcpal cannot start')


def test_tool_exits_with_the_message_not_a_traceback(tmp_path):
    """A tool run where no OpenMMLab distribution is visible: exit 1, the
    message on stderr, no traceback (simulated in a child process)."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    script = tmp_path / 'run.py'
    script.write_text(
        'import runpy, sys\n'
        'import mmcpal.stack as s\n'
        's.installed_version = {"torch": "2.14.1"}.get\n'
        's._module_present = lambda m: False\n'
        f'sys.argv = ["train.py", "x.py"]\n'
        f'runpy.run_path({os.path.join(repo, "tools", "train.py")!r}, '
        'run_name="__main__")\n')
    env = dict(os.environ)
    env.pop(stack.SKIP_ENV, None)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert proc.stderr.startswith('mmcpal cannot start')
    assert "pip install 'mmcpal[onedl]'" in proc.stderr


def test_apis_import_raises_stack_error(tmp_path):
    script = tmp_path / 'imp.py'
    script.write_text(
        'import mmcpal.stack as s\n'
        's.installed_version = {"torch": "2.14.1"}.get\n'
        's._module_present = lambda m: False\n'
        'try:\n'
        '    import mmcpal.apis\n'
        'except s.StackError as e:\n'
        '    print("STACK-ERROR", isinstance(e, ImportError))\n')
    env = dict(os.environ)
    env.pop(stack.SKIP_ENV, None)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert 'STACK-ERROR True' in proc.stdout, proc.stderr[-2000:]


def test_bare_import_does_not_check():
    proc = subprocess.run(
        [sys.executable, '-c',
         'import sys, mmcpal; print(sorted(m for m in sys.modules '
         'if m.split(".")[0] in ("mmengine", "mmseg", "mmcv", "mmpretrain",'
         ' "torch")) or "none")'],
        capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == 'none', proc.stderr[-2000:]
