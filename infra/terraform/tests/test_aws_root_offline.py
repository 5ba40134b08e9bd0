"""environments/aws offline: the S3 backend locks natively, and with the real provider and
no credentials the plan gets as far as asking for them, and fails there only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import AWS_ROOT, Terraform, clean_env, copy_terraform_tree

pytestmark = pytest.mark.usefixtures("terraform_available")


def test_backend_is_s3_with_native_locking_and_no_account_in_code() -> None:
    versions = (AWS_ROOT / "versions.tf").read_text()
    backend = re.search(r'backend "s3" \{(.*?)\n  \}', versions, re.S)
    assert backend, "environments/aws must use the S3 backend"
    assert re.search(r"use_lockfile\s*=\s*true", backend.group(1))
    assert "dynamodb_table" not in backend.group(1)
    assert not re.search(r"\b\d{12}\b", "".join(p.read_text() for p in AWS_ROOT.glob("*.tf")))


def test_plan_without_credentials_stops_at_the_credentials_step(
    tmp_path: Path, plugin_cache: dict[str, str]
) -> None:
    tree = copy_terraform_tree(tmp_path / "tree")
    root = tree / "environments" / "aws"
    # The S3 backend would stop at the credentials step too, but during init: swap it for
    # a local one so the provider itself is what asks for credentials.
    (root / "backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    terraform = Terraform(root, tmp_path / ".terraform", env=clean_env(**plugin_cache))
    terraform.run("init", f"-backend-config=path={tmp_path / 'aws.tfstate'}")
    lock = ".terraform.lock.hcl"
    assert (root / lock).read_text() == (AWS_ROOT / lock).read_text(), "init rewrote the lock"
    result = terraform.run(
        "plan",
        "-var-file=terraform.tfvars.example",
        check=False,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    errors = re.findall(r"^(?:│ )?Error: (.+)$", result.stderr, re.M)
    # The one diagnostic, whose detail says why the credential chain came up empty.
    assert errors[0] == "No valid credential sources found", result.stderr
    assert all("credential" in error for error in errors), result.stderr
    assert "with provider[" in result.stderr, "the provider, not the configuration, failed"
