"""`ansible-test sanity` for the collection's Python plugins (modules and module_utils).

ansible-test only runs inside a tree shaped .../ansible_collections/<namespace>/<name>, so the
test copies the tracked files (`git ls-files`; regular files only, the .collections link is
left out as it would point back into the copy) to a temporary directory of that shape, next
to a link to the amazon.aws collection the module imports, and runs there with --local and
Python 3.11.

Every sanity test that ansible-test lists runs except three: shellcheck (needs the shellcheck
binary; there is no shell code in these files), pslint (PowerShell) and changelog (the
collection's changelog is checked by tests/lint/test_collection.py with antsibull-changelog).

Offline detail: ansible-test creates a virtual environment per sanity test and bootstraps pip
in it with a `get-pip` script downloaded from ci-files.testing.ansible.com, which this machine
cannot reach (only PyPI is reachable). ansible-test reads the script from
~/.ansible/test/cache/get_pip_<version>.py when it is there (its error message says to put it
there), so the test runs with a temporary HOME holding a small stand-in: it installs pip from
the pip wheel of the same version, downloaded from PyPI. The sanity tests' own requirements
are then installed by ansible-test from PyPI as usual. Where the real script is reachable, the
stand-in changes nothing but where pip comes from.
"""

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, ansible_env, run

pytestmark = pytest.mark.slow

# Every tracked Python file under plugins/: a new module is checked without editing this list.
TARGETS = sorted(
    name
    for name in subprocess.run(
        ["git", "ls-files", "plugins"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if name.endswith(".py")
)
SKIPPED = ["shellcheck", "pslint", "changelog"]


def _pip_version():
    source = Path(importlib.import_module("ansible_test._internal.python_requirements").__file__).read_text()
    return re.search(r"\bpip='([0-9.]+)'", source).group(1)


def _amazon_aws():
    modules = importlib.import_module("ansible_collections.amazon.aws.plugins.module_utils.modules")
    return Path(modules.__file__).resolve().parents[2]


def _collection_copy(base):
    dest = base / "ansible_collections" / "mirrorlab" / "vpc"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src = ROOT / name
        if src.is_symlink() or not src.is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name)
    (base / "ansible_collections" / "amazon").mkdir()
    (base / "ansible_collections" / "amazon" / "aws").symlink_to(_amazon_aws())
    subprocess.run(["git", "init", "-q", "."], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    return dest


def _offline_home(base):
    version = _pip_version()
    wheels = base / "wheels"
    run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), f"pip=={version}"])
    (wheel,) = wheels.glob(f"pip-{version}-*.whl")
    home = base / "home"
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True)
    (cache / f"get_pip_{version.replace('.', '_')}.py").write_text(
        "# Stand-in for ansible-test's get-pip bootstrap (see tests/lint/test_ansible_test_sanity.py)\n"
        "import sys\n"
        f"sys.path.insert(0, {str(wheel)!r})\n"
        "from pip._internal.cli.main import main\n"
        "args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]\n"
        "sys.exit(main(['install', '--upgrade', '--force-reinstall'] + args))\n"
    )
    return home


def test_ansible_test_sanity_passes_for_plugins(tmp_path):
    assert "plugins/modules/mirror_eni_info.py" in TARGETS
    base = tmp_path / "eni-sanity"
    base.mkdir()
    collection = _collection_copy(base)
    env = ansible_env(HOME=str(_offline_home(base)))
    env.pop("ANSIBLE_CONFIG")
    cmd = ["ansible-test", "sanity", "--local", "--python", "3.11", "--color", "no"]
    for name in SKIPPED:
        cmd += ["--skip-test", name]
    proc = run(cmd + TARGETS, env=env, cwd=collection, check=False, timeout=1500)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-20000:]
    ran = set(re.findall(r'Running sanity test "([a-z0-9-]+)"', output))
    # The tests that matter for a module all ran (not silently skipped).
    assert {"validate-modules", "ansible-doc", "pylint", "pep8", "import", "compile", "yamllint"} <= ran, ran
