"""Shared fixtures: the checkout, an environment for ansible commands, a moto server."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The checkout is the collection; make `ansible_collections.mirrorlab.vpc` importable for
# unit tests of modules and module_utils.
sys.path.insert(0, str(ROOT / ".collections"))


def pytest_configure(config):
    """teardown.yml keeps the captures under $MIRRORLAB_CAPTURES_ROOT (default ./captures):
    for the tests a folder of their own, never the checkout's."""
    if "MIRRORLAB_CAPTURES_ROOT" not in os.environ:
        os.environ["MIRRORLAB_CAPTURES_ROOT"] = tempfile.mkdtemp(prefix="mirrorlab-captures-")
        config._mirrorlab_captures_root = os.environ["MIRRORLAB_CAPTURES_ROOT"]


def pytest_unconfigure(config):
    root = getattr(config, "_mirrorlab_captures_root", None)
    if root:
        shutil.rmtree(root, ignore_errors=True)


def ansible_env(**extra):
    """Environment for ansible-* commands run from the checkout."""
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(cmd, *, env=None, check=True, timeout=1800, cwd=ROOT):
    """Run a command from the checkout and return the CompletedProcess (output captured)."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=env or ansible_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-20000:]}\n--- stderr ---\n{proc.stderr[-8000:]}"
        )
    return proc


def build_collection(out_dir):
    """`ansible-galaxy collection build` of the checkout into out_dir; returns the tarball."""
    run(["ansible-galaxy", "collection", "build", "--output-path", str(out_dir), str(ROOT)])
    (tarball,) = Path(out_dir).glob("mirrorlab-vpc-*.tar.gz")
    return tarball


def installed_env(collections_path, **extra):
    """Environment for ansible-* commands as a user of the installed collection has it: no
    ansible.cfg of the checkout, the collections in collections_path (the ansible package's own
    ones come from the virtual environment as usual)."""
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=str(collections_path), **extra)
    env.pop("ANSIBLE_CONFIG")
    return env


def install_collection(tarball, collections_path, cwd):
    """`ansible-galaxy collection install` of the tarball into collections_path, away from the
    checkout; returns the installed collection's directory."""
    env = installed_env(collections_path)
    run(["ansible-galaxy", "collection", "install", "--offline", "--no-deps", "-p", str(collections_path),
         str(tarball)], env=env, cwd=cwd)
    return Path(collections_path) / "ansible_collections" / "mirrorlab" / "vpc"


def module_main(main, args, capsys=None):
    """Run a module's main() in-process with these arguments.

    Returns (exit code, result): the result is the module's JSON output when `capsys` is
    given, else None (the output stays with pytest's capture)."""
    from ansible.module_utils.testing import patch_module_args

    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            main()
    return exit_info.value.code, (json.loads(capsys.readouterr().out) if capsys is not None else None)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def moto_ext_server(create_delay, delete_delay):
    """A moto server with tests/moto_ext loaded (stacks take create_delay / delete_delay
    seconds), in a separate process; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "moto_ext" / "server.py"), str(port), str(create_delay), str(delete_delay)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def moto_server():
    """A moto server on a loopback port for the whole session; yields its URL.

    Tests that need isolation reset it with `requests.post(url + "/moto-api/reset")`.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """Environment variables that point boto3 and amazon.aws at the moto server."""
    values = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_URL": moto_server,
        "AWS_ENDPOINT_URL": moto_server,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values
