"""The services on Python 3.12 as well (the upstream images' version; the suite runs on 3.11)."""

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICE_TESTS = [
    "services/common",
    "services/main-api",
    "services/aux-service",
    "services/secrets-provider",
]


def _python312() -> str | None:
    """A working Python 3.12: pyenv's installs (not its shims), then python3.12 on PATH."""
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(f"{pyenv_root}/versions/3.12*/bin/python3.12"), reverse=True)
    candidates.append(shutil.which("python3.12") or "")
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "(3, 12)":
            return candidate
    return None


@pytest.mark.timeout(900)
def test_service_tests_pass_on_python_312(tmp_path: Path) -> None:
    if sys.version_info[:2] == (3, 12):
        pytest.skip("this run is already on Python 3.12")
    python = _python312()
    uv = shutil.which("uv") or str(ROOT / ".tools/bin/uv")
    if python is None:
        pytest.skip("no Python 3.12 interpreter here (pyenv install 3.12 to run this check)")
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"),
        "UV_PYTHON_DOWNLOADS": "never",
    }
    sync = subprocess.run(
        [uv, "sync", "--frozen", "--all-packages", "--python", python],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert sync.returncode == 0, sync.stderr[-3000:]
    run = subprocess.run(
        [
            str(tmp_path / "venv/bin/python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *SERVICE_TESTS,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert " passed" in run.stdout.splitlines()[-1]
