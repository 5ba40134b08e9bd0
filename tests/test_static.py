"""Static checks: ruff (lint and format), mypy strict and yamllint, via `task lint`."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_lint_and_types_are_clean() -> None:
    result = subprocess.run(
        [str(ROOT / "task"), "lint"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
