"""yamllint on every YAML file, and checkov on everything the environments render."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from k8s_manifests import (
    CHECKOV_VERSION,
    K8S_ROOT,
    environment_of,
    render_text,
    rendered_dirs,
)
from yamllint import linter
from yamllint.config import YamlLintConfig


def test_yamllint() -> None:
    """Every YAML file under infra/k8s passes yamllint (infra/k8s/.yamllint.yaml)."""
    config = YamlLintConfig(file=str(K8S_ROOT / ".yamllint.yaml"))
    files = sorted(K8S_ROOT.rglob("*.yaml"))
    assert len(files) > 50
    problems = [
        f"{path.relative_to(K8S_ROOT)}:{problem.line}: {problem.desc} ({problem.rule})"
        for path in files
        for problem in linter.run(path.read_text(), config, str(path))
    ]
    assert not problems, "\n".join(problems)


def _uv() -> str:
    uv = shutil.which("uv") or shutil.which("uv", path=str(K8S_ROOT.parents[1] / ".tools/bin"))
    if uv is None:
        pytest.skip("uv is not installed: checkov runs isolated through `uv tool run`")
    return uv


def run_checkov(directory: Path) -> dict:
    """checkov's JSON report on the manifests in `directory` (offline: --skip-download)."""
    result = subprocess.run(
        [
            _uv(),
            "tool",
            "run",
            "--from",
            f"checkov=={CHECKOV_VERSION}",
            "checkov",
            "--framework",
            "kubernetes",
            "--skip-download",
            "--directory",
            str(directory),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    # checkov exits 1 when a check fails; anything else is a crash.
    assert result.returncode in (0, 1), result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert report["check_type"] == "kubernetes"
    return report


def test_checkov_passes_or_says_why(tmp_path: Path) -> None:
    """Zero failed checks; every skipped check carries its reason inline."""
    directories = [d for d in rendered_dirs() if environment_of(d)]
    for directory in directories:
        name = directory.replace("/", "__") + ".yaml"
        (tmp_path / name).write_text(render_text(directory))
    report = run_checkov(tmp_path)
    summary = report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 50
    assert summary["passed"] > 300
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    for check in report["results"]["skipped_checks"]:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) > 20, f"{check['check_id']} on {check['resource']}: no reason"


def test_checkov_finds_a_weakened_workload(tmp_path: Path) -> None:
    """checkov really runs the checks: a Deployment that drops its hardening fails."""
    text = render_text("overlays/local")
    weakened = text.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
    assert weakened != text
    (tmp_path / "weakened.yaml").write_text(weakened)
    report = run_checkov(tmp_path)
    failed = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert "CKV_K8S_22" in failed  # read-only root filesystem


def test_secrets_lint_target_passes_on_the_rendered_overlays() -> None:
    """`task secrets-lint`: no SecretProviderClass holds what the AWS provider silently accepts.

    The target renders infra/k8s/overlays/{local,eks} and runs
    `python -m secrets_provider.lint` (services/secrets-provider) on every
    SecretProviderClass: unknown keys, repeated file names, aliases that
    pathTranslation changes, unquoted versions.
    """
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: the overlays cannot be rendered")
    task = K8S_ROOT.parents[1] / "task"
    result = subprocess.run(
        [str(task), "secrets-lint"],
        cwd=K8S_ROOT.parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SecretProviderClasses, 0 findings" in result.stderr
    assert "secrets-lint: 0 SecretProviderClasses" not in result.stderr
