"""checkov over every module and root of infra/terraform (pinned, isolated through uv,
--skip-download): zero failed checks, and every skip is a deliberate inline annotation with
its reason."""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .conftest import TERRAFORM_DIR, clean_env, task_vars, uv_binary

# A cold cache installs checkov and its dependencies first.
pytestmark = pytest.mark.timeout(600)

SKIP_ANNOTATION = re.compile(r"#checkov:skip=(CKV2?_[A-Z0-9_]+):(.*)$", re.M)


# Every module and every root on its own. A scan of the whole tree is not repeatable: which
# instances of a module called with count checkov expands depends on Python's string hashing
# (checkov 3.3.30, measured: 82 or 92 resources across PYTHONHASHSEED values, and a finding
# that came and went). A module scanned on its own covers each of its blocks every time, and
# the fixed seed makes the roots' expansion of their modules the same on every run.
SCAN_DIRS = sorted(
    p.parent
    for p in TERRAFORM_DIR.glob("*/*/main.tf")
    if p.parent.parent.name in ("modules", "environments")
)


def _scan(uv: str, version: str, directory: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            uv,
            "tool",
            "run",
            "--from",
            f"checkov=={version}",
            "checkov",
            "-d",
            str(directory),
            "--framework",
            "terraform",
            "--skip-download",
            "-o",
            "json",
        ],
        env=clean_env(PYTHONHASHSEED="0"),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode in (0, 1), (
        f"checkov did not run on {directory}:\n{result.stderr[-4000:]}"
    )
    report = json.loads(result.stdout)
    assert isinstance(report, dict), f"{directory}: expected one framework in the report"
    assert report["check_type"] == "terraform"
    return report


@pytest.fixture(scope="module")
def checkov_reports() -> dict[Path, dict[str, Any]]:
    """checkov's JSON report of the Terraform framework, per module and root."""
    uv = uv_binary()
    if uv is None:
        pytest.skip("checkov test: uv is not installed (./task setup bootstraps it)")
    version = task_vars()["CHECKOV_VERSION"]
    assert len(SCAN_DIRS) >= 10, SCAN_DIRS
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        reports = list(pool.map(lambda d: _scan(uv, version, d), SCAN_DIRS))
    return dict(zip(SCAN_DIRS, reports, strict=True))


def _checks(reports: dict[Path, dict[str, Any]], kind: str) -> list[tuple[Path, dict[str, Any]]]:
    return [(d, c) for d, report in reports.items() for c in report["results"][kind]]


def _annotations() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in TERRAFORM_DIR.rglob("*.tf"):
        for check_id, reason in SKIP_ANNOTATION.findall(path.read_text()):
            found.setdefault(check_id, []).append(reason.strip())
    return found


def test_checkov_finds_no_failed_check(checkov_reports: dict[Path, dict[str, Any]]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} ({d.name}{c['file_path']}): {c['check_name']}"
        for d, c in _checks(checkov_reports, "failed_checks")
    ]
    assert not failed, "\n".join(failed)
    assert all(r["summary"]["parsing_errors"] == 0 for r in checkov_reports.values())
    passed = sum(r["summary"]["passed"] for r in checkov_reports.values())
    assert passed >= 400, (
        f"checkov passed {passed} checks: it scanned far less than the modules hold"
    )
    # Every module's own resources were scanned, not only those a root happened to expand.
    for directory, report in checkov_reports.items():
        if directory.parent.name == "modules":
            assert report["summary"]["resource_count"] > 0, f"{directory}: nothing scanned"


def test_every_skip_is_annotated_inline_with_a_reason(
    checkov_reports: dict[Path, dict[str, Any]],
) -> None:
    annotations = _annotations()
    for check_id, reasons in annotations.items():
        for reason in reasons:
            assert len(reason) >= 20, f"{check_id}: give the reason for skipping, not {reason!r}"
    skipped = {
        c["check_id"]: c["check_result"].get("suppress_comment", "")
        for _, c in _checks(checkov_reports, "skipped_checks")
    }
    assert set(skipped) == set(annotations), "skips and annotations differ (stale annotation?)"
    assert all(skipped.values()), skipped
