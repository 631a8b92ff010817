"""The collection as a whole: lint, syntax, build and install."""

import tarfile

import pytest

from conftest import ROOT, ansible_env, run


def test_ansible_lint_production_profile():
    proc = run(["ansible-lint", "--profile", "production", "--offline"], check=False)
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-8000:]


@pytest.mark.parametrize("playbook", ["site.yml", "teardown.yml"])
@pytest.mark.parametrize("inventory", ["inventories/lab", "inventories/aws"])
def test_playbook_syntax(playbook, inventory):
    run(["ansible-playbook", "--syntax-check", "-i", inventory, playbook])


def test_collection_builds_and_installs(tmp_path):
    run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path / "dist"), str(ROOT)])
    (tarball,) = (tmp_path / "dist").glob("mirrorlab-vpc-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names and "meta/runtime.yml" in names
    assert not any(n.startswith((".venv", ".collections", ".git/")) for n in names)

    # Install into an empty collections path, away from the checkout and its ansible.cfg, so
    # the checkout's own .collections link cannot stand in for the installed copy.
    dest = tmp_path / "collections"
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=str(dest))
    env.pop("ANSIBLE_CONFIG")
    install = ["ansible-galaxy", "collection", "install", "--offline", "--no-deps", "-p", str(dest), str(tarball)]
    run(install, env=env, cwd=tmp_path)
    installed = dest / "ansible_collections" / "mirrorlab" / "vpc"
    assert (installed / "MANIFEST.json").is_file()
    # The installed copy is usable on its own: ansible-doc finds its plugins by FQCN.
    proc = run(["ansible-doc", "-t", "module", "-l", "mirrorlab.vpc"], env=env, cwd=tmp_path)
    assert "mirrorlab.vpc." in proc.stdout


def test_changelog_fragments_lint():
    run(["antsibull-changelog", "lint"])
