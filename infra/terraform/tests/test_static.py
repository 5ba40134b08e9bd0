"""Offline checks of the Terraform code: format, validate, layout, docs and house rules."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .conftest import (
    AWS_ROOT,
    LOCAL_ROOT,
    MODULE_DIRS,
    ROOT_DIRS,
    TERRAFORM_DIR,
    TERRAFORM_WRAPPER,
    Terraform,
    clean_env,
    copy_terraform_tree,
)

ALL_TF_FILES = sorted(
    path
    for path in TERRAFORM_DIR.rglob("*.tf")
    if not any(part.startswith(".") for part in path.relative_to(TERRAFORM_DIR).parts)
    and path.name != "localstack_providers_override.tf"
)
BLOCK = re.compile(r'^(resource|data|variable|output|module|provider|ephemeral)\s+"([^"]+)"', re.M)


def _top_level_blocks(text: str) -> list[tuple[str, str, str]]:
    """(kind, first label, body) of every top-level block, in order (HCL keeps top-level
    blocks at column 0)."""
    starts = [(m.start(), m.group(1), m.group(2)) for m in BLOCK.finditer(text)]
    ends = [start for start, _, _ in starts[1:]] + [len(text)]
    return [
        (kind, label, text[start:end])
        for (start, kind, label), end in zip(starts, ends[: len(starts)], strict=True)
    ]


def _blocks(text: str, kind: str) -> dict[str, str]:
    """Top-level blocks of one kind, first label -> body."""
    return {label: body for k, label, body in _top_level_blocks(text) if k == kind}


def _names(path: Path, kind: str) -> list[str]:
    return list(_blocks(path.read_text(), kind)) if path.exists() else []


@pytest.mark.usefixtures("terraform_available")
def test_terraform_fmt_is_clean() -> None:
    result = subprocess.run(
        [str(TERRAFORM_WRAPPER), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


CONFIG_DIRS = MODULE_DIRS + ROOT_DIRS


@pytest.fixture(scope="module")
def validate_reports(
    terraform_available: None,
    tmp_path_factory: pytest.TempPathFactory,
    plugin_cache: dict[str, str],
) -> dict[Path, dict[str, Any]]:
    """terraform init -backend=false and validate -json of every module and root, in parallel."""

    # A copy, because init writes a lock file next to each module it initialises.
    tree = copy_terraform_tree(tmp_path_factory.mktemp("validate-tree"))

    def validate(config_dir: Path) -> dict[str, Any]:
        data_dir = tmp_path_factory.mktemp(f"validate-{config_dir.name}") / ".terraform"
        copy = tree / config_dir.relative_to(TERRAFORM_DIR)
        terraform = Terraform(copy, data_dir, env=clean_env(**plugin_cache))
        init = terraform.run("init", "-backend=false", check=False)
        if init.returncode != 0:
            return {"valid": False, "warning_count": 0, "init_error": init.stderr[-4000:]}
        report: dict[str, Any] = json.loads(terraform.run("validate", "-json", check=False).stdout)
        return report

    # The first one alone: it fills the plugin cache (when there is no mirror) race-free.
    first = validate(CONFIG_DIRS[0])
    with ThreadPoolExecutor(max_workers=4) as pool:
        rest = list(pool.map(validate, CONFIG_DIRS[1:]))
    return dict(zip(CONFIG_DIRS, [first, *rest], strict=True))


@pytest.mark.parametrize(
    "config_dir", CONFIG_DIRS, ids=[str(p.relative_to(TERRAFORM_DIR)) for p in CONFIG_DIRS]
)
def test_terraform_validate(config_dir: Path, validate_reports: dict[Path, dict[str, Any]]) -> None:
    report = validate_reports[config_dir]
    assert "init_error" not in report, report.get("init_error")
    messages = [
        f"{d['severity']}: {d['summary']} {d.get('detail', '')}" for d in report["diagnostics"]
    ]
    assert report["valid"], messages
    assert report["warning_count"] == 0, messages


def _module_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "module_docs", TERRAFORM_DIR / "scripts" / "module_docs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("module_dir", MODULE_DIRS, ids=[p.name for p in MODULE_DIRS])
def test_module_has_the_standard_files_and_a_current_readme(module_dir: Path) -> None:
    for required in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (module_dir / required).is_file(), f"{module_dir.name}: {required} is missing"
    inputs = _names(module_dir / "variables.tf", "variable")
    outputs = _names(module_dir / "outputs.tf", "output")
    assert inputs, f"{module_dir.name}: no inputs found"
    assert outputs, f"{module_dir.name}: no outputs found"
    section = _module_docs().render(module_dir)
    for name in inputs + outputs:
        assert f"| `{name}` |" in section
    assert section in (module_dir / "README.md").read_text(), (
        f"{module_dir.name}/README.md is out of date: run ./task tf:docs"
    )


@pytest.mark.parametrize(
    "path", ALL_TF_FILES, ids=[str(p.relative_to(TERRAFORM_DIR)) for p in ALL_TF_FILES]
)
def test_variables_are_typed_and_described_and_never_any(path: Path) -> None:
    for name, body in _blocks(path.read_text(), "variable").items():
        assert re.search(r"^\s+type\s*=", body, re.M), f"variable {name} has no type"
        assert re.search(r'^\s+description\s*=\s*"\S', body, re.M), (
            f"variable {name}: no description"
        )
        assert not re.search(r"\bany\b", _type_expression(body)), f"variable {name} uses any"


def _type_expression(body: str) -> str:
    match = re.search(
        r"^\s+type\s*=\s*(.*?)(?=^\s+(default|description|validation|sensitive|nullable)\b|\Z)",
        body,
        re.M | re.S,
    )
    return match.group(1) if match else ""


def test_every_iam_policy_is_an_aws_iam_policy_document() -> None:
    attribute = re.compile(r"^\s+(policy|assume_role_policy)\s*=\s*(.+)$", re.M)
    checked = 0
    for path in ALL_TF_FILES:
        for resource_type, body in _blocks(path.read_text(), "resource").items():
            if resource_type == "aws_ecr_lifecycle_policy":
                continue  # an ECR lifecycle document, not IAM
            for match in attribute.finditer(body):
                checked += 1
                assert match.group(2).startswith("data.aws_iam_policy_document."), (
                    f"{path.name} {resource_type}: {match.group(1)} = {match.group(2)}"
                )
    assert checked >= 6, "expected the IAM policies and roles of the modules"


# What each data and ephemeral block type calls in AWS during a plan, so what the pull request
# plan role (modules/github-oidc plan_role, filled in by modules/platform) must be granted.
# None: no API call, or only sts:GetCallerIdentity, which needs no permission.
PLAN_LOOKUPS: dict[tuple[str, str], str | None] = {
    ("data", "aws_partition"): None,
    ("data", "aws_region"): None,
    ("data", "aws_caller_identity"): None,
    ("data", "aws_iam_policy_document"): None,
    ("data", "aws_eks_cluster"): "eks:DescribeCluster",
    ("data", "aws_iam_openid_connect_provider"): "iam:GetOpenIDConnectProvider",
    ("data", "aws_availability_zones"): "ec2:DescribeAvailabilityZones",
    ("ephemeral", "aws_secretsmanager_random_password"): "secretsmanager:GetRandomPassword",
}


def test_every_lookup_a_plan_makes_is_granted_to_the_plan_role() -> None:
    """A new kind of data or ephemeral block would make the pull request plan fail with
    AccessDenied: grant its call to the plan role, then list it here."""
    found = {
        (kind, block_type)
        for path in ALL_TF_FILES
        for kind in ("data", "ephemeral")
        for block_type in _blocks(path.read_text(), kind)
    }
    assert found <= set(PLAN_LOOKUPS), (
        f"not known to the plan role: {sorted(found - set(PLAN_LOOKUPS))}"
    )
    plan_role = (TERRAFORM_DIR / "modules" / "github-oidc" / "main.tf").read_text()
    for action in filter(None, PLAN_LOOKUPS.values()):
        assert f'"{action}"' in plan_role, f"the plan role does not grant {action}"


def test_environment_roots_declare_no_resources() -> None:
    """The roots differ only in configuration: every resource lives in a module."""
    for root in ROOT_DIRS:
        for path in root.glob("*.tf"):
            text = path.read_text()
            for kind in ("resource", "data", "ephemeral"):
                assert not _blocks(text, kind), (
                    f"{path.relative_to(TERRAFORM_DIR)} declares a {kind}"
                )
        modules = {n for p in root.glob("*.tf") for n in _blocks(p.read_text(), "module")}
        assert modules == {"platform"}, f"{root.name} must only call modules/platform"


def test_only_the_local_root_can_skip_the_provider_waits() -> None:
    """skip_provider_waits leaves off the VPC's DNS hostnames (EKS nodes need them), the
    cluster key's rotation and tags and the bucket's lifecycle rule: only for emulators. The
    aws root neither declares nor passes it, so it stays at the modules' default, false."""
    for root, expected in ((LOCAL_ROOT, True), (AWS_ROOT, False)):
        texts = [path.read_text() for path in root.glob("*.tf")]
        declared = any("skip_provider_waits" in _blocks(text, "variable") for text in texts)
        mentioned = any("skip_provider_waits" in text for text in texts)
        assert (declared, mentioned) == (expected, expected), root.name
    tfvars = [p for p in AWS_ROOT.glob("*.tfvars*") if "skip_provider_waits" in p.read_text()]
    assert tfvars == []


def test_only_the_aws_provider_is_required_and_locked() -> None:
    sources = {
        match.group(1)
        for path in ALL_TF_FILES
        for match in re.finditer(r'^\s+source\s*=\s*"([^".][^"]*)"', path.read_text(), re.M)
    }
    assert sources == {"hashicorp/aws"}, sources
    for root in ROOT_DIRS:
        lock = (root / ".terraform.lock.hcl").read_text()
        assert re.findall(r'^provider "([^"]+)"', lock, re.M) == [
            "registry.terraform.io/hashicorp/aws"
        ]
        assert 'version     = "5.100.0"' in lock
        # zh: one per released platform, so a connected machine on any platform verifies
        # the registry download; h1: the unpacked package of the offline mirror.
        assert len(re.findall(r'"zh:[0-9a-f]{64}"', lock)) == 15
        assert re.search(r'"h1:[A-Za-z0-9+/]{43}="', lock)


def test_cli_config_installs_only_aws_from_the_mirror() -> None:
    config = (TERRAFORM_DIR / "cli-config.tfrc").read_text()
    assert re.search(r'filesystem_mirror\s*\{\s*path\s*=\s*"/[^"]+"', config)
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in config
    assert not re.search(r"\bdirect\s*\{", config), "the mirror must not fall back to the registry"


@pytest.mark.parametrize("mirror_exists", [True, False])
def test_wrapper_uses_the_cli_config_only_when_the_mirror_exists(
    tmp_path: Path, mirror_exists: bool
) -> None:
    """scripts/terraform.sh: mirror present -> our CLI config; absent -> registry defaults."""
    tree = tmp_path / "tf"
    (tree / "scripts").mkdir(parents=True)
    wrapper = tree / "scripts" / "terraform.sh"
    wrapper.write_text(TERRAFORM_WRAPPER.read_text())
    wrapper.chmod(0o755)
    mirror = tmp_path / "mirror"
    if mirror_exists:
        mirror.mkdir()
    (tree / "cli-config.tfrc").write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "terraform"
    fake.write_text(
        '#!/bin/sh\necho "config=${TF_CLI_CONFIG_FILE-unset} checkpoint=$CHECKPOINT_DISABLE"\n'
    )
    fake.chmod(0o755)
    env = {**clean_env(), "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"}
    env["TF_CLI_CONFIG_FILE"] = str(tmp_path / "does-not-exist.tfrc")
    out = subprocess.run(
        [str(wrapper), "version"], env=env, capture_output=True, text=True, check=True
    ).stdout
    expected = f"config={tree / 'cli-config.tfrc'}" if mirror_exists else "config=unset"
    assert out.strip() == f"{expected} checkpoint=1"


def test_every_iam_role_takes_the_permissions_boundary() -> None:
    """modules/platform's `permissions_boundary` is set "on every IAM role of the platform":
    every aws_iam_role sets it, and every call of a module that creates roles passes it on
    (grafana_irsa did not: its role was the one outside the boundary, and an account that
    requires one on iam:CreateRole would have failed the apply there)."""
    role_modules = set()
    roles = 0
    for path in ALL_TF_FILES:
        for kind, label, body in _top_level_blocks(path.read_text()):
            if kind == "resource" and label == "aws_iam_role":
                roles += 1
                role_modules.add(path.parent.name)
                assert re.search(r"^\s+permissions_boundary\s*=", body, re.M), (
                    f"{path.relative_to(TERRAFORM_DIR)}: an aws_iam_role without it"
                )
    calls = 0
    for path in ALL_TF_FILES:
        for kind, label, body in _top_level_blocks(path.read_text()):
            source = re.search(r'^\s+source\s*=\s*"\.\./([^"/]+)"', body, re.M)
            if kind == "module" and source and source.group(1) in role_modules:
                calls += 1
                assert re.search(
                    r"^\s+permissions_boundary\s*=\s*var\.permissions_boundary\s*$", body, re.M
                ), f"{path.relative_to(TERRAFORM_DIR)}: module {label} does not pass it on"
    assert roles >= 4, roles
    assert calls >= 4, calls
