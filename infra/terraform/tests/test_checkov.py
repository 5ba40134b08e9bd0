"""checkov over infra/terraform (pinned, isolated through uv, --skip-download): zero failed
checks, and every skip is a deliberate inline annotation with its reason."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from .conftest import TERRAFORM_DIR, clean_env, task_vars, uv_binary

# A cold cache installs checkov and its dependencies first.
pytestmark = pytest.mark.timeout(600)

SKIP_ANNOTATION = re.compile(r"#checkov:skip=(CKV2?_[A-Z0-9_]+):(.*)$", re.M)


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    """checkov's JSON report of the Terraform framework."""
    uv = uv_binary()
    if uv is None:
        pytest.skip("checkov test: uv is not installed (./task setup bootstraps it)")
    version = task_vars()["CHECKOV_VERSION"]
    result = subprocess.run(
        [
            uv,
            "tool",
            "run",
            "--from",
            f"checkov=={version}",
            "checkov",
            "-d",
            str(TERRAFORM_DIR),
            "--framework",
            "terraform",
            "--skip-download",
            "-o",
            "json",
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode in (0, 1), f"checkov did not run:\n{result.stderr[-4000:]}"
    report = json.loads(result.stdout)
    assert isinstance(report, dict), "expected one framework in the report"
    assert report["check_type"] == "terraform"
    return report


def _annotations() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in TERRAFORM_DIR.rglob("*.tf"):
        for check_id, reason in SKIP_ANNOTATION.findall(path.read_text()):
            found.setdefault(check_id, []).append(reason.strip())
    return found


def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in checkov_report["results"]["failed_checks"]
    ]
    assert summary["failed"] == 0, "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 200, "checkov scanned far less than the modules hold"


def test_every_skip_is_annotated_inline_with_a_reason(checkov_report: dict[str, Any]) -> None:
    annotations = _annotations()
    for check_id, reasons in annotations.items():
        for reason in reasons:
            assert len(reason) >= 20, f"{check_id}: give the reason for skipping, not {reason!r}"
    skipped = {
        c["check_id"]: c["check_result"].get("suppress_comment", "")
        for c in checkov_report["results"]["skipped_checks"]
    }
    assert set(skipped) == set(annotations), "skips and annotations differ (stale annotation?)"
    assert all(skipped.values()), skipped
