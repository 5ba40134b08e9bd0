"""The kind target attaches pytest-kind to the cluster local-up made, and never creates one.

A fake `kind` (a real script on PATH) records its arguments: pytest-kind's KindCluster.create()
would run `kind create cluster` for a missing cluster (pytest-kind-ng 26.7.0 cluster.py).
"""

import os
import stat
from pathlib import Path

import pytest

from kontaxa_e2e.kind import attach_cluster

FAKE_KIND = """#!/bin/sh
echo "$@" >> "{log}"
case "$1 $2" in
  "get clusters") echo "{clusters}" ;;
  "get kubeconfig") echo "apiVersion: v1" ; echo "current-context: kind-kontaxa" ;;
  *) exit 3 ;;
esac
"""


@pytest.fixture
def fake_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kind", "kubectl"):
        script = bin_dir / tool
        script.write_text(FAKE_KIND.format(log=tmp_path / f"{tool}.log", clusters="kontaxa"))
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)  # pytest-kind makes .pytest-kind/<name> in the working dir
    return tmp_path


def test_attaches_by_name_and_kubeconfig(fake_kind: Path) -> None:
    cluster = attach_cluster("kontaxa", fake_kind / "work")
    assert cluster.name == "kontaxa"
    assert cluster.kubeconfig_path.read_text().startswith("apiVersion: v1")
    assert stat.S_IMODE(cluster.kubeconfig_path.stat().st_mode) == 0o600
    assert cluster.kind_path == fake_kind / "bin/kind"  # given: pytest-kind downloads nothing
    calls = (fake_kind / "kind.log").read_text()
    assert "create" not in calls
    assert "delete" not in calls


def test_refuses_a_missing_cluster_with_what_to_run(fake_kind: Path) -> None:
    with pytest.raises(RuntimeError, match="local-up first"):
        attach_cluster("other", fake_kind / "work")
    assert "create" not in (fake_kind / "kind.log").read_text()
