"""The kind runtime's git server image, built as the runtime builds it, runs as the cluster runs it.

kind_runtime builds local/kind/git-server on the golden image of the same tag; the Dockerfile
uses plain COPY and RUN so Docker's legacy builder (a CLI without buildx) builds it as well.
Here: that build with the legacy builder, then the container read-only as its non-root user,
a push over git:// from the host and a read back, as the runner and Argo CD do.
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from catalog import GOLDEN, ROOT

from kontaxa_e2e.docker_run import docker, docker_cli
from kontaxa_e2e.gitrepo import git
from kontaxa_local.kind_runtime import GIT_SERVER_DIR
from kontaxa_local.process_runtime import free_port


@pytest.mark.timeout(900)
def test_git_server_builds_with_the_legacy_builder_and_serves_pushes(
    built_images: list[str], tmp_path: Path
) -> None:
    tag = f"kontaxa/git-server:test-{uuid.uuid4().hex[:8]}"
    build = subprocess.run(
        [
            docker_cli() or "docker",
            "build",
            "--build-arg",
            f"BASE_IMAGE={GOLDEN}",
            "--tag",
            tag,
            str(GIT_SERVER_DIR),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        cwd=ROOT,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    port = free_port()
    container = docker(
        "run",
        "-d",
        "--read-only",
        "--user",
        "10001:10001",
        "--tmpfs",
        "/srv/git:uid=10001,gid=10001",
        "-p",
        f"127.0.0.1:{port}:9418",
        tag,
    ).strip()
    try:
        repo = tmp_path / "work"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        (repo / "file").write_text("snapshot\n")
        git(repo, "add", "file")
        git(repo, "commit", "-qm", "snapshot")
        head = git(repo, "rev-parse", "HEAD").strip()
        url = f"git://127.0.0.1:{port}/kontaxa.git"
        for _ in range(50):  # the daemon starts within a second or two
            try:
                git(repo, "push", "-q", url, "HEAD:refs/heads/main")
                break
            except subprocess.CalledProcessError:
                time.sleep(0.2)
        else:
            pytest.fail("the git server never accepted the push: " + docker("logs", container))
        assert f"{head}\trefs/heads/main" in git(repo, "ls-remote", url)
    finally:
        docker("rm", "-f", container, check=False)
        docker("rmi", tag, check=False)
