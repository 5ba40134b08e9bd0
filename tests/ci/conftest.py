"""Shared fixtures of the CI tests.

The Terraform harness (a terraform runner through infra/terraform/scripts/terraform.sh, a
moto server on loopback, environments without the developer's AWS_*/TF_* variables) is
infra/terraform/tests' own: it is loaded from there, not written a second time.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CI_SCRIPTS = REPO_ROOT / "scripts" / "ci"
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
TASK = REPO_ROOT / "task"
# Console scripts of the workspace (actionlint, zizmor, yamllint, shellcheck) sit beside python.
VENV_BIN = Path(sys.executable).parent


def load_module(name: str, path: Path) -> ModuleType:
    """Import a file as module `name` once (the name pytest itself would give it)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None, path
    assert spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


terraform_harness = load_module(
    "infra.terraform.tests.conftest", REPO_ROOT / "infra" / "terraform" / "tests" / "conftest.py"
)
# Re-exported so the tests here can request them.
moto_server = terraform_harness.moto_server
plugin_cache = terraform_harness.plugin_cache
terraform_available = terraform_harness.terraform_available

promote = load_module("scripts.ci.promote", CI_SCRIPTS / "promote.py")
oidc_subjects = load_module("scripts.ci.oidc_subjects", CI_SCRIPTS / "oidc_subjects.py")


def run(
    argv: list[str | Path],
    *,
    cwd: Path = REPO_ROOT,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its text output; never raises on a non-zero exit."""
    return subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=env if env is not None else os.environ.copy(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    """stdout and stderr of a finished command, for failure messages."""
    return (
        f"exit {result.returncode}\n--- stdout ---\n{result.stdout}\n"
        f"--- stderr ---\n{result.stderr}"
    )


def fake_command(directory: Path, name: str, body: str) -> Path:
    """An executable shell script `name` in `directory` (a stand-in for a CLI)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def kubectl() -> str:
    """kubectl (its built-in kustomize renders offline); skipped with one line where missing."""
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl not on PATH: install it to render the eks overlay")
    return found


def git(*args: str | Path, cwd: Path) -> str:
    """Run git in `cwd` with a fixed identity; return stdout, failing the test on error."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    result = run(["git", *args], cwd=cwd, env=env)
    assert result.returncode == 0, output_of(result)
    return result.stdout
