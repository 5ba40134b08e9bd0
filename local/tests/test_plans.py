"""`--dry-run` plans of both runtimes: the exact ordered actions, nothing executed."""

import importlib.util
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kontaxa_local.executor import DryRunExecutor, Executor
from kontaxa_local.kind_runtime import RESTARTED_AFTER_LOAD, KindRuntime
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
        ("write", "monitoring/prometheus.yml"),
        ("write", "monitoring/rules/monitoring-kontaxa-slo.yaml"),
        ("write", "monitoring/alertmanager.yml"),
        ("spawn", "alert-sink"),
        ("spawn", "alertmanager"),
        ("spawn", "prometheus"),
        ("wait", "aux-service ready"),
        ("wait", "main-api ready"),
        ("wait", "alert-sink ready"),
        ("wait", "alertmanager ready"),
        ("wait", "prometheus ready"),
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
    # The emulator for every AWS service through the SDKs' standard variable, which the
    # provider reads: the local root has no endpoints block (providers.tf).
    assert apply.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:14566"
    assert not any("endpoint" in argument for argument in apply.command)
    # The runner skips the settings the provider waits for; infra/terraform/tests apply them.
    assert "skip_provider_waits=true" in apply.command
    assert not (tmp_path / "state").exists()  # a dry run writes nothing


def test_process_plan_without_monitoring(tmp_path: Path) -> None:
    """LOCAL_MONITORING=0: the services alone, as before."""
    executor = DryRunExecutor()
    settings = _settings(tmp_path, runtime="process", monitoring=False)
    ProcessRuntime(settings, executor).up()
    names = {a.what for a in executor.actions if a.kind == "spawn"}
    assert names == {"emulator (moto)", "aux-service", "main-api"}
    assert not any(a.what.startswith("monitoring/") for a in executor.actions)


def test_kind_plan(tmp_path: Path) -> None:
    executor = DryRunExecutor()
    runtime = KindRuntime(_settings(tmp_path, runtime="kind"), executor)
    runtime.up()
    # Each step's duration is recorded (and printed) for the up line, as the process runtime's.
    assert list(runtime.step_seconds) == [
        "cluster",
        "images",
        "argocd",
        "snapshot",
        "bootstrap",
        "terraform",
        "sync",
    ]
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
        "wait until Argo CD created the emulator Deployment",
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
    # The emulator in kind, through its port-forward: the root's one endpoint setting.
    apply = next(a for a in executor.actions if a.what == "terraform apply")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", apply.env["AWS_ENDPOINT_URL"])
    # scripts/images/lib.sh tags with $IMAGE_TAG from the environment: the tag kind loads.
    build = next(a for a in executor.actions if a.what == "build the golden and service images")
    assert not any(arg.startswith("IMAGE_TAG") for arg in build.command)
    loaded = {arg.rsplit(":", 1)[1] for arg in commands["load the images into kind"] if ":" in arg}
    assert loaded == {build.env["IMAGE_TAG"]}
    # Every image kind loads is built without a default attestation (kind#3795).
    git_server = next(a for a in executor.actions if a.what == "build the git server image")
    for action in (build, git_server):
        assert action.env["BUILDX_NO_DEFAULT_ATTESTATIONS"] == "1", action.what
    assert not (tmp_path / "state").exists()


# What the upstream install manifest the runner applies (`kubectl apply -k
# infra/k8s/argocd/install`) creates, read from argoproj/argo-cd v3.4.7 manifests/install.yaml.
ARGOCD_INSTALL_WORKLOADS = {
    ("argocd", "deployment", name)
    for name in (
        "argocd-applicationset-controller",
        "argocd-dex-server",
        "argocd-notifications-controller",
        "argocd-redis",
        "argocd-repo-server",
        "argocd-server",
    )
} | {("argocd", "statefulset", "argocd-application-controller")}


def _option(command: list[str], name: str) -> str | None:
    for index, arg in enumerate(command):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and index + 1 < len(command):
            return command[index + 1]
    return None


def _kubectl_targets(command: list[str], verb: list[str]) -> list[tuple[str, str, str]]:
    """(namespace, resource, name) of each `kind/name` argument after the verb."""
    namespace = _option(command, "-n") or "default"
    start = command.index(verb[-1]) + 1
    return [
        (namespace, *arg.lower().split("/", 1))  # type: ignore[misc]
        for arg in command[start:]
        if "/" in arg and not arg.startswith("-")
    ]


@pytest.mark.parametrize("emulator", ["moto", "localstack"])
def test_kind_plan_waits_only_on_objects_that_exist(tmp_path: Path, emulator: str) -> None:
    """Every kubectl wait/rollout on a condition targets an object the runner applied itself,
    or one an earlier `kubectl wait --for=create` with a timeout waited for.

    kubernetes/kubectl v0.33.1 (kubectl 1.33.1) pkg/cmd/wait/wait.go, RunWait: only
    `--for=create` polls (every 0.5 s up to --timeout) until the object exists; every other
    condition visits the object once and a missing one fails with NotFound at once. The default
    --timeout is 30 s, so each wait names its own. `rollout status` (pkg/cmd/rollout/
    rollout_status.go) gets the object first, and fails alike on a missing one.
    """
    executor = DryRunExecutor()
    KindRuntime(_settings(tmp_path, runtime="kind", emulator=emulator), executor).up()
    applied: set[tuple[str, str, str]] = set()
    created: set[tuple[str, str, str]] = set()
    checked = 0
    for action in executor.actions:
        command = action.command
        if action.kind == "apply":
            for obj in yaml.safe_load_all(action.manifest):
                if obj:
                    meta = obj["metadata"]
                    applied.add(
                        (meta.get("namespace", "default"), obj["kind"].lower(), meta["name"])
                    )
        if "apply" in command and "-k" in command and command[-1].endswith("argocd/install"):
            applied |= ARGOCD_INSTALL_WORKLOADS
        if command[:1] != ["kubectl"]:
            continue
        if "wait" in command:
            condition = _option(command, "--for")
            assert condition, f"{action.what}: kubectl wait without --for"
            assert _option(command, "--timeout"), f"{action.what}: no --timeout (default 30 s)"
            targets = _kubectl_targets(command, ["wait"])
            if condition == "create":
                created |= set(targets)
                continue
        elif "rollout" in command:
            targets = _kubectl_targets(command, ["rollout", "status"])
            assert _option(command, "--timeout"), f"{action.what}: no --timeout"
        else:
            continue
        for target in targets:
            checked += 1
            assert target in applied | created, (
                f"{action.what}: {target} is neither applied by the runner nor awaited "
                "with --for=create first (kubectl fails NotFound at once)"
            )
    assert checked >= 5  # Argo CD's three workloads, the git server, the emulator


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


def test_a_reused_cluster_restarts_what_keeps_its_image_tag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `kind load`, the workloads whose pod template never changes are restarted where
    they exist (a reused cluster), so they run the image just built; the names are the
    rendered manifests' own. kubectl is a stand-in that records its calls; the secrets
    provider exists, the git server not yet."""
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {calls}\n'
        'if [[ "$*" == *"get daemonset kontaxa-secrets-provider"* ]]; then\n'
        "  echo daemonset.apps/kontaxa-secrets-provider\n"
        "fi\n"
    )
    kubectl.chmod(0o755)
    # The names are the rendered manifests' own (the real kubectl, before the stand-in).
    rendered = {
        (o["metadata"].get("namespace"), o["kind"].lower(), o["metadata"]["name"])
        for path in ("infra/k8s/platform/secrets-provider", "local/kind/git-server")
        for o in yaml.safe_load_all(
            subprocess.run(
                ["kubectl", "kustomize", str(REPO_ROOT / path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    }
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    runtime = KindRuntime(_settings(tmp_path, runtime="kind"), Executor())
    (tmp_path / "state/logs").mkdir(parents=True)
    runtime._restart_on_new_images()
    provider = f"--context {runtime.context} -n kube-system"
    git_server = f"--context {runtime.context} -n git-server"
    assert calls.read_text().splitlines() == [
        f"{provider} get daemonset kontaxa-secrets-provider --ignore-not-found -o name",
        f"{provider} rollout restart daemonset/kontaxa-secrets-provider",
        f"{git_server} get deployment git-server --ignore-not-found -o name",
    ]
    assert set(RESTARTED_AFTER_LOAD) <= rendered
