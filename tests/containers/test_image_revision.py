"""What scripts/images/lib.sh labels an image with: its commit (-dirty when the sources
have uncommitted changes) and the time of its sources (no Docker engine needed)."""

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from catalog import ROOT

from kontaxa_e2e.gitrepo import git as _git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with lib.sh where build.sh has it, one commit, a golden and a service dir."""
    (tmp_path / "scripts/images").mkdir(parents=True)
    shutil.copy(ROOT / "scripts/images/lib.sh", tmp_path / "scripts/images/lib.sh")
    for path in ("services/golden-image/Dockerfile", "services/main-api/app.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("one\n")
    _git(tmp_path, "init", "--quiet")
    _git(tmp_path, "add", "--all")
    _git(tmp_path, "commit", "--quiet", "-m", "one", "--date", "2030-01-02T03:04:05Z")
    return tmp_path


def _lib(repo: Path, call: str) -> str:
    return subprocess.run(
        ["bash", "-c", f"source scripts/images/lib.sh && {call}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_a_clean_tree_is_labelled_with_its_commit_and_commit_time(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    assert _lib(repo, "revision_of") == head
    assert _lib(repo, f"created_of {head}") == _git(
        repo, "log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ"
    )


def test_an_uncommitted_change_is_labelled_dirty_with_the_change_time(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    changed = repo / "services/main-api/app.py"
    changed.write_text("two\n")
    stamp = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC).timestamp()
    os.utime(changed, (stamp, stamp))
    revision = _lib(repo, "revision_of")
    assert revision == f"{head}-dirty"
    assert _lib(repo, f"created_of {revision}") == "2031-05-06T07:08:09Z"


def test_an_untracked_file_makes_the_tree_dirty(repo: Path) -> None:
    (repo / "services/main-api/new.py").write_text("x = 1\n")
    assert _lib(repo, "revision_of").endswith("-dirty")


def test_the_golden_image_is_dirty_only_for_its_own_sources(repo: Path) -> None:
    """A change elsewhere keeps the golden image's revision clean (and its cache warm)."""
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "services/main-api/app.py").write_text("two\n")
    assert _lib(repo, "revision_of services/golden-image") == head
    (repo / "services/golden-image/Dockerfile").write_text("two\n")
    assert _lib(repo, "revision_of services/golden-image") == f"{head}-dirty"
