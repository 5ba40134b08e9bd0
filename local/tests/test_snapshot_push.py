"""The kind runtime's snapshot push, for real: a depth-1 clone into the git server's own script.

In GitHub Actions the repository is a depth-1 clone (actions/checkout v7.0.1, `fetch-depth: 1`
by default: actions/checkout `action.yml`). git's receive-pack refuses a push that needs new
shallow roots unless the receiving repository sets `receive.shallowUpdate` (git `builtin/
receive-pack.c`, "shallow update not allowed"; git-config(1) `receive.shallowUpdate`). The
in-cluster server (local/kind/git-server/entrypoint.sh) does not set it, so whatever the runner
pushes must be complete in itself. This test runs that very entrypoint with a real `git daemon`
on loopback, pushes the runner's snapshot from a depth-1 clone with uncommitted changes, and
clones the result back over git:// as Argo CD's repo server would.
"""

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kontaxa_e2e.gitrepo import git
from kontaxa_local import version
from kontaxa_local.executor import Executor
from kontaxa_local.kind_runtime import push_snapshot, snapshot_commit, snapshot_mismatch
from kontaxa_local.process_runtime import free_port
from kontaxa_local.settings import GIT_SERVER_DIR

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None
    or subprocess.run(["git", "daemon", "-h"], capture_output=True, check=False).returncode
    not in (0, 129),
    reason="git with `git daemon` is not installed",
)


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[str]:
    """local/kind/git-server/entrypoint.sh on 127.0.0.1 and a free port: its git:// URL."""
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "GIT_SERVER_ROOT": str(tmp_path / "srv"),
        "GIT_SERVER_LISTEN": "127.0.0.1",
        "GIT_SERVER_PORT": str(port),
    }
    (tmp_path / "srv").mkdir()
    server = subprocess.Popen(
        ["sh", str(GIT_SERVER_DIR / "entrypoint.sh")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, "the git server's entrypoint exited"
            time.sleep(0.05)
        else:
            pytest.fail("the git server did not listen within 10 s")
        yield f"git://127.0.0.1:{port}/kontaxa.git"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def shallow_clone(tmp_path: Path) -> Path:
    """A depth-1 clone of a three-commit history, as actions/checkout leaves it, then edited."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "--quiet", "--initial-branch=main")
    for number in range(3):
        (origin / "history.txt").write_text(f"commit {number}\n")
        (origin / "infra").mkdir(exist_ok=True)
        (origin / "infra" / f"file{number}.yaml").write_text(f"n: {number}\n")
        git(origin, "add", "--all")
        git(origin, "commit", "--quiet", "-m", f"commit {number}")
    (origin / ".gitignore").write_text("ignored.txt\n")
    git(origin, "add", "--all")
    git(origin, "commit", "--quiet", "-m", "ignore")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{origin}", str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository").strip() == "true"
    # Uncommitted work: an edit, a new file, a deletion, and an ignored file.
    (clone / "history.txt").write_text("edited, not committed\n")
    (clone / "infra" / "new.yaml").write_text("new: true\n")
    (clone / "infra" / "file0.yaml").unlink()
    (clone / "ignored.txt").write_text("never pushed\n")
    return clone


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_snapshot_from_a_shallow_clone_is_accepted_and_clones_back_as_the_working_tree(
    tmp_path: Path, git_server: str, shallow_clone: Path
) -> None:
    head = git(shallow_clone, "rev-parse", "HEAD").strip()
    executor = Executor()
    snapshot = snapshot_commit(executor, tmp_path / "snapshot.index", shallow_clone)
    # As the runner seeds: the version commit on the snapshot is what is pushed and synced.
    stamp = version.Version(snapshot, "2030-01-02T03:04:05Z")
    revision = version.stamped_commit(
        executor, snapshot, stamp, tmp_path / "version.index", shallow_clone
    )
    push_snapshot(executor, shallow_clone, revision, git_server, tmp_path / "push.log")

    # HEAD and the clone's index are untouched; the snapshot names HEAD.
    assert git(shallow_clone, "rev-parse", "HEAD").strip() == head
    assert "history.txt" in git(shallow_clone, "status", "--porcelain")
    assert head in git(shallow_clone, "log", "-1", "--format=%B", snapshot)

    checkout = tmp_path / "argocd-view"
    git(tmp_path, "clone", "--quiet", "--branch", "main", git_server, str(checkout))
    assert git(checkout, "rev-parse", "HEAD").strip() == revision
    assert git(checkout, "rev-parse", "HEAD^").strip() == snapshot
    expected = _tree(shallow_clone)
    del expected["ignored.txt"]  # .gitignore'd files are not part of the snapshot
    assert _tree(checkout) == expected

    # The kind e2e's check: the snapshot is this checkout, until the checkout changes.
    check = tmp_path / "check.index"
    assert snapshot_mismatch(snapshot, check, shallow_clone) is None
    assert snapshot_mismatch(revision, check, shallow_clone) is not None  # the version commit

    # A second snapshot (the cluster reused) force-pushes over the first.
    (shallow_clone / "history.txt").write_text("edited again\n")
    mismatch = snapshot_mismatch(snapshot, check, shallow_clone)
    assert mismatch is not None
    assert "another tree" in mismatch
    second = snapshot_commit(executor, tmp_path / "snapshot.index", shallow_clone)
    push_snapshot(executor, shallow_clone, second, git_server, tmp_path / "push.log")
    git(checkout, "fetch", "--quiet", "origin", "main")
    assert git(checkout, "rev-parse", "FETCH_HEAD").strip() == second
    git(checkout, "checkout", "--quiet", "FETCH_HEAD")
    assert (checkout / "history.txt").read_text() == "edited again\n"


def test_snapshot_leaves_out_what_the_users_global_excludes_hide(
    tmp_path: Path, shallow_clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files a developer hides in ~/.config/git/ignore (git-config(1) `core.excludesFile`, whose
    default is $XDG_CONFIG_HOME/git/ignore or $HOME/.config/git/ignore) stay out of the snapshot,
    as they stay out of the developer's own commits."""
    home = tmp_path / "home"
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".config" / "git" / "ignore").write_text(".env\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    (shallow_clone / ".env").write_text("SECRET=never pushed\n")
    snapshot = snapshot_commit(Executor(), tmp_path / "snapshot.index", shallow_clone)
    files = git(shallow_clone, "ls-tree", "-r", "--name-only", snapshot).split()
    assert ".env" not in files
    assert "history.txt" in files


def test_a_snapshot_of_the_same_tree_on_another_head_is_not_this_checkout(
    tmp_path: Path, shallow_clone: Path
) -> None:
    """The kind e2e's check reads HEAD from the snapshot's message: the same files committed
    since (HEAD moved, the tree the same) are no longer what the snapshot came from."""
    snapshot = snapshot_commit(Executor(), tmp_path / "snapshot.index", shallow_clone)
    assert snapshot_mismatch(snapshot, tmp_path / "check.index", shallow_clone) is None
    git(shallow_clone, "add", "--all")
    git(shallow_clone, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "w")
    mismatch = snapshot_mismatch(snapshot, tmp_path / "check.index", shallow_clone)
    assert mismatch is not None
    assert "is not a snapshot of HEAD" in mismatch
