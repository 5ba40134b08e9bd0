"""Version metadata: the working tree's commit, ConfigMaps stamped by key, kind's version commit."""

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from kontaxa_e2e.gitrepo import git as _git
from kontaxa_local import manifests
from kontaxa_local.executor import Executor
from kontaxa_local.settings import OVERLAY, REPO_ROOT
from kontaxa_local.version import (
    Version,
    stamp,
    stamped_commit,
    working_tree_revision,
)

STAMPED = Version("0123456789abcdef0123456789abcdef01234567", "2030-01-02T03:04:05Z")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "--quiet")
    (path / "a.txt").write_text("a\n")
    _git(path, "add", "a.txt")
    _git(path, "commit", "--quiet", "-m", "one")
    return path


def test_a_clean_tree_is_its_head(repo: Path) -> None:
    assert working_tree_revision(repo) == _git(repo, "rev-parse", "HEAD")


def test_a_changed_file_makes_it_dirty(repo: Path) -> None:
    (repo / "a.txt").write_text("b\n")
    assert working_tree_revision(repo) == _git(repo, "rev-parse", "HEAD") + "-dirty"


def test_an_untracked_file_makes_it_dirty(repo: Path) -> None:
    (repo / "new.py").write_text("x = 1\n")
    assert working_tree_revision(repo) == _git(repo, "rev-parse", "HEAD") + "-dirty"


def test_outside_git_it_is_unknown(tmp_path: Path) -> None:
    assert working_tree_revision(tmp_path) == "unknown"


def _objects(config_name: str) -> list[manifests.Object]:
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "svc", "namespace": "ns"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"image": "img:dev", "envFrom": [{"configMapRef": {"name": config_name}}]}
                    ]
                }
            }
        },
    }

    def config_map(name: str, data: dict[str, str]) -> manifests.Object:
        return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, "data": data}

    return [
        deployment,
        config_map(config_name, {"GIT_SHA": "dev", "BUILD_TIME": "unknown", "OTHER": "x"}),
        config_map("unreferenced", {"GIT_SHA": "dev", "BUILD_TIME": "unknown"}),
    ]


@pytest.mark.parametrize("name", ["svc-config", "svc-config-7g2h9kt5bm"])
def test_stamp_sets_the_keys_of_the_configmap_a_deployment_reads(name: str) -> None:
    """Found through the Deployment, so a generated (hash-suffixed) name works too."""
    objects = _objects(name)
    images: list[str] = []

    def version_of(image: str) -> Version:
        images.append(image)
        return STAMPED

    stamp(objects, version_of)
    assert images == ["img:dev"]
    assert objects[1]["data"] == {
        "GIT_SHA": STAMPED.git_sha,
        "BUILD_TIME": STAMPED.build_time,
        "OTHER": "x",
    }
    assert objects[2]["data"] == {"GIT_SHA": "dev", "BUILD_TIME": "unknown"}


def test_stamp_adds_no_key() -> None:
    objects = _objects("svc-config")
    objects[1]["data"] = {"OTHER": "x"}
    stamp(objects, lambda image: STAMPED)
    assert objects[1]["data"] == {"OTHER": "x"}


def test_the_local_overlay_gets_the_stamped_values() -> None:
    """Every Deployment of the local overlay reads the version from the stamped keys."""
    objects = manifests.load(manifests.render(OVERLAY))
    stamp(objects, lambda image: STAMPED)
    workloads = manifests.workloads(objects)
    assert {w.name for w in workloads} == {"main-api", "aux-service"}
    for workload in workloads:
        assert (workload.env["GIT_SHA"], workload.env["BUILD_TIME"]) == (
            STAMPED.git_sha,
            STAMPED.build_time,
        )


def test_the_version_commit_makes_the_local_overlay_say_the_snapshot(tmp_path: Path) -> None:
    """kind: Argo CD syncs a child of the snapshot whose rendered ConfigMaps name the
    snapshot; HEAD, the index and the working tree of the repository stay as they were."""
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--shared", "--no-checkout", str(REPO_ROOT), str(clone)],
        check=True,
    )
    head = _git(clone, "rev-parse", "HEAD")
    stamped = Version(head, STAMPED.build_time)
    commit = stamped_commit(Executor(), head, stamped, tmp_path / "version.index", repo=clone)
    assert _git(clone, "rev-parse", f"{commit}^") == head
    assert _git(clone, "rev-parse", "HEAD") == head
    archive = subprocess.run(
        ["git", "-C", str(clone), "archive", commit, "infra/k8s"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp_path / "tree", filter="data")
    objects = manifests.load(manifests.render(tmp_path / "tree/infra/k8s/overlays/local"))
    workloads = manifests.workloads(objects)
    assert {workload.name for workload in workloads} >= {"main-api", "aux-service"}
    for workload in workloads:
        assert (workload.env["GIT_SHA"], workload.env["BUILD_TIME"]) == (
            head,
            STAMPED.build_time,
        ), workload.name
    changed = _git(clone, "diff", "--name-only", head, commit).split()
    assert changed
    assert all(path.startswith("infra/k8s/") for path in changed)
