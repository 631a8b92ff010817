"""The collection as a whole: lint, syntax, build and install."""

import tarfile

import pytest

from conftest import ROOT, build_collection, install_collection, installed_env, run


def test_ansible_lint_production_profile():
    proc = run(["ansible-lint", "--profile", "production", "--offline"], check=False)
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-8000:]


@pytest.mark.parametrize("playbook", ["site.yml", "teardown.yml"])
@pytest.mark.parametrize("inventory", ["inventories/lab", "inventories/aws"])
def test_playbook_syntax(playbook, inventory):
    run(["ansible-playbook", "--syntax-check", "-i", inventory, playbook])


# What is not the collection (galaxy.yml build_ignore): never in the tarball.
NOT_THE_COLLECTION = (
    "tests", "molecule", "benchmarks", "scripts", "inventories", ".ci", ".collections", ".venv", ".git",
    ".gitignore", ".ansible-lint", "ansible.cfg", "pytest.ini", "requirements.txt", "mirrorlab", "site.yml",
    "teardown.yml",
)


def test_collection_builds_and_installs(tmp_path):
    tarball = build_collection(tmp_path / "dist")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names and "meta/runtime.yml" in names
    assert {"playbooks/site.yml", "playbooks/teardown.yml", "plugins/action/stack_wait.py"} <= set(names)
    shipped = sorted(n for n in names if n.split("/")[0] in NOT_THE_COLLECTION)
    assert shipped == [], shipped
    assert not [n for n in names if "moto" in n or "__pycache__" in n or n.endswith(".pyc")]
    # The README says so: the test-only AWS emulation (tests/moto_ext) is never shipped.
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "tests/moto_ext" in readme and "never shipped in the collection" in readme

    # Install into an empty collections path, away from the checkout and its ansible.cfg, so
    # the checkout's own .collections link cannot stand in for the installed copy.
    dest = tmp_path / "collections"
    installed = install_collection(tarball, dest, cwd=tmp_path)
    assert (installed / "MANIFEST.json").is_file()
    env = installed_env(dest)
    # The installed copy is usable on its own: ansible-doc finds its plugins by FQCN, and its
    # playbooks resolve by FQCN (mirrorlab.vpc.site, mirrorlab.vpc.teardown).
    proc = run(["ansible-doc", "-t", "module", "-l", "mirrorlab.vpc"], env=env, cwd=tmp_path)
    assert "mirrorlab.vpc.stack_wait" in proc.stdout and "mirrorlab.vpc.mirror_eni_info" in proc.stdout
    for playbook in ("mirrorlab.vpc.site", "mirrorlab.vpc.teardown"):
        proc = run(["ansible-playbook", "--syntax-check", playbook, "-e", "mirrorlab_backend=aws"], env=env, cwd=tmp_path)
        assert f"playbook: {installed}/playbooks/" in proc.stdout, proc.stdout


def test_changelog_fragments_lint():
    run(["antsibull-changelog", "lint"])
