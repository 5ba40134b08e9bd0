"""`--dry-run` plans of both runtimes: the exact ordered actions, nothing executed."""

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kontaxa_local.executor import DryRunExecutor
from kontaxa_local.kind_runtime import KindRuntime
from kontaxa_local.process_runtime import ProcessRuntime
from kontaxa_local.settings import REPO_ROOT, Settings
from kontaxa_local.version import working_tree_revision


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        ports={"main-api": 18080, "aux-service": 18081, "emulator": 14566},
        **overrides,
    )  # type: ignore[arg-type]


def test_process_plan(tmp_path: Path) -> None:
    executor = DryRunExecutor()
    ProcessRuntime(_settings(tmp_path, runtime="process"), executor).up()
    steps = [(a.kind, a.what.split(" (")[0]) for a in executor.actions]
    assert steps == [
        ("spawn", "emulator"),
        ("wait", "emulator ready"),
        ("run", "terraform init"),
        ("run", "terraform apply"),
        ("write", "secrets of aux-service from aux-service-secrets"),
        ("spawn", "aux-service"),
        ("write", "secrets of main-api from main-api-secrets"),
        ("spawn", "main-api"),
        ("wait", "aux-service ready"),
        ("wait", "main-api ready"),
    ]
    spawns = {a.what: a for a in executor.actions if a.kind == "spawn"}
    main, aux = spawns["main-api"], spawns["aux-service"]
    assert main.env["AUX_SERVICE_URL"] == "http://127.0.0.1:18081"
    assert main.env["PORT"] == "18080"
    assert main.env["SECRETS_DIR"] == str(tmp_path / "state/pods/main-api/mnt/secrets")
    assert aux.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:14566"
    assert "AWS_PROFILE" not in aux.env
    assert "AWS_ACCESS_KEY_ID" not in main.env
    # Version metadata through the ConfigMap keys the cluster uses: the working tree's commit
    # (-dirty when it has uncommitted changes) and the time of this bring-up.
    for spawned in (main, aux):
        assert spawned.env["GIT_SHA"] == working_tree_revision()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", spawned.env["BUILD_TIME"])
    apply = next(a for a in executor.actions if a.what == "terraform apply")
    assert "endpoint_url=http://127.0.0.1:14566" in apply.command
    # The runner skips the lifecycle rule's wait; infra/terraform/tests apply the rule.
    assert "enable_bucket_lifecycle=false" in apply.command
    assert not (tmp_path / "state").exists()  # a dry run writes nothing


def test_kind_plan(tmp_path: Path) -> None:
    executor = DryRunExecutor()
    KindRuntime(_settings(tmp_path, runtime="kind"), executor).up()
    steps = [a.what.split(" (")[0] for a in executor.actions]
    assert steps == [
        "create the kind cluster",
        "build the golden and service images",
        "build the git server image",
        "load the images into kind",
        "install Argo CD",
        "wait for Argo CD",
        "deploy the git server",
        "wait for the git server",
        "snapshot the working tree",
        "write the snapshot commit",
        "write the version commit",
        "port-forward to git-server",
        "push the snapshot",
        "bootstrap Argo CD",
        "wait for the emulator Deployment",
        "port-forward to aws-emulator",
        "terraform init",
        "terraform apply",
        "Applications Synced and Healthy at <snapshot>+v",
    ]
    commands = {a.what.split(" (")[0]: a.command for a in executor.actions}
    assert commands["install Argo CD"][-4:] == [
        "--server-side",
        "--force-conflicts",
        "-k",
        str(Path("infra/k8s/argocd/install").resolve()),
    ]
    assert "--image" in commands["create the kind cluster"]
    node_image = commands["create the kind cluster"][
        commands["create the kind cluster"].index("--image") + 1
    ]
    assert "@sha256:" in node_image
    assert "create_eks=false" in commands["terraform apply"]
    assert not (tmp_path / "state").exists()


@pytest.fixture
def kind_manifests(tmp_path: Path) -> list[str]:
    executor = DryRunExecutor()
    KindRuntime(_settings(tmp_path, runtime="kind"), executor).up()
    return [a.manifest for a in executor.actions if a.kind == "apply"]


def _manifest_checks() -> Any:
    """infra/k8s's offline validator (strict Kubernetes and CRD schemas), loaded from its file."""
    path = REPO_ROOT / "infra/k8s/tests/k8s_manifests.py"
    spec = importlib.util.spec_from_file_location("k8s_manifests", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kind_plan_applies_only_valid_manifests(kind_manifests: list[str]) -> None:
    checks = _manifest_checks()
    assert len(kind_manifests) == 2  # the git server and the Argo CD bootstrap
    kinds = []
    for manifest in kind_manifests:
        for obj in yaml.safe_load_all(manifest):
            checks.validate_object(obj)  # raises on any schema error or unknown kind
            kinds.append(obj["kind"])
    assert {"Deployment", "Service", "NetworkPolicy", "AppProject", "Application"} <= set(kinds)


def test_kind_plan_with_localstack(tmp_path: Path) -> None:
    executor = DryRunExecutor()
    settings = _settings(
        tmp_path, runtime="kind", emulator="localstack", localstack_auth_token="secret-token-value"
    )
    KindRuntime(settings, executor).up()
    secret = next(a for a in executor.actions if "auth token Secret" in a.what)
    assert "secret-token-value" not in str(secret)  # the plan never shows the token
    bootstrap = next(a for a in executor.actions if a.what == "bootstrap Argo CD")
    root = next(
        o
        for o in yaml.safe_load_all(bootstrap.manifest)
        if o["kind"] == "Application" and o["metadata"]["name"] == "kontaxa-root"
    )
    assert root["spec"]["sources"][0]["kustomize"]["components"] == [
        "../components/localstack-emulator"
    ]
    _manifest_checks().validate_object(root)
    apply = next(a for a in executor.actions if a.what == "terraform apply")
    assert "create_ecr_repositories=false" in apply.command
