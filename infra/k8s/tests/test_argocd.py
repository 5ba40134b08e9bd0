"""The Argo CD tree: restrictive projects, self-healing Applications in order, per-env add-ons."""

import fnmatch

import pytest
import yaml
from k8s_manifests import (
    ENVIRONMENTS,
    K8S_ROOT,
    KUBERNETES_VERSION,
    Obj,
    environment_dirs,
    find,
    one,
    render,
)

CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "CSIDriver",
    "IngressClass",
    "PriorityClass",
    "StorageClass",
}


def _applications(env: str) -> dict[str, Obj]:
    """Every Application an environment deploys, through the root and its children."""
    apps: dict[str, Obj] = {}
    for directory in environment_dirs(env):
        if directory.startswith(f"platform/{env}-"):
            continue  # a variant of platform/<env>, checked on its own below
        for app in find(render(directory), "Application"):
            apps[app["metadata"]["name"]] = app
    return apps


def _projects(env: str) -> dict[str, Obj]:
    return {p["metadata"]["name"]: p for p in find(render(f"argocd/{env}"), "AppProject")}


def _wave(obj: Obj) -> int:
    return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def _git_source(app: Obj) -> Obj:
    (source,) = [s for s in app["spec"]["sources"] if s.get("name") == "kontaxa"]
    return source


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_root_owns_everything(env: str) -> None:
    """The bootstrap holds the projects and one root, whose tree holds every other Application."""
    bootstrap = render(f"argocd/bootstrap/{env}")
    (root,) = find(bootstrap, "Application")
    assert root["metadata"]["name"] == "kontaxa-root"
    assert _git_source(root)["path"] == f"infra/k8s/argocd/{env}"
    assert {p["metadata"]["name"] for p in find(bootstrap, "AppProject")} == set(_projects(env))
    children = {a["metadata"]["name"] for a in find(render(f"argocd/{env}"), "Application")}
    assert children == {"platform", "monitoring", "aux-service", "main-api"}
    assert set(_projects(env)) == {"kontaxa-platform", "kontaxa-apps"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_applications_sync_automatically_with_retry(env: str) -> None:
    """Automated sync with prune and self-heal, retry with backoff, cascading deletion."""
    apps = _applications(env)
    assert len(apps) >= 8
    for name, app in apps.items():
        policy = app["spec"]["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}, name
        retry = policy["retry"]
        assert retry["limit"] >= 3, name
        assert retry["backoff"]["factor"] >= 2, name
        assert retry["backoff"]["maxDuration"], name
        assert "resources-finalizer.argocd.argoproj.io" in app["metadata"]["finalizers"], name
        assert app["metadata"]["namespace"] == "argocd", name


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_sync_waves_put_crds_and_the_csi_driver_first(env: str) -> None:
    """Platform, then monitoring, then aux-service, then main-api; inside, the CSI driver first."""
    tree = render(f"argocd/{env}")
    children = {a["metadata"]["name"]: _wave(a) for a in find(tree, "Application")}
    assert children["platform"] < children["monitoring"] < children["aux-service"]
    assert children["aux-service"] < children["main-api"]
    for project in find(render(f"argocd/{env}"), "AppProject"):
        assert _wave(project) < children["platform"]

    platform = render(f"platform/{env}")
    driver = _wave(one(platform, "Application", "secrets-store-csi-driver"))
    for obj in platform:
        if obj["kind"] == "Namespace":
            assert _wave(obj) < driver
        elif obj["metadata"]["name"] != "secrets-store-csi-driver":
            assert _wave(obj) > driver, f"{obj['kind']}/{obj['metadata']['name']}"
    monitoring = render(f"monitoring/{env}")
    stack = _wave(one(monitoring, "Application", "kube-prometheus-stack"))
    for kind in ("PrometheusRule", "ConfigMap"):
        for obj in find(monitoring, kind):
            assert _wave(obj) > stack, "rules need the operator's CRDs first"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_applications_stay_inside_their_project(env: str) -> None:
    """Each source repository and destination namespace is one the project allows."""
    projects = _projects(env)
    for name, app in _applications(env).items():
        project = projects[app["spec"]["project"]]["spec"]
        for source in app["spec"]["sources"]:
            assert any(fnmatch.fnmatch(source["repoURL"], r) for r in project["sourceRepos"]), (
                f"{name}: {source['repoURL']} is not a source of {app['spec']['project']}"
            )
        destination = app["spec"]["destination"]
        assert {
            "server": destination["server"],
            "namespace": destination["namespace"],
        } in project["destinations"], name
    for name in ("main-api", "aux-service"):
        assert _applications(env)[name]["spec"]["project"] == "kontaxa-apps"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_apps_project_admits_exactly_the_service_objects(env: str) -> None:
    """kontaxa-apps: no cluster-scoped kind; the services' objects fit its namespaced list."""
    project = _projects(env)["kontaxa-apps"]["spec"]
    assert project["clusterResourceWhitelist"] == []
    allowed = {(k["group"], k["kind"]) for k in project["namespaceResourceWhitelist"]}
    used = set()
    for service in ("main-api", "aux-service"):
        for obj in render(f"overlays/{env}/{service}"):
            assert obj["metadata"]["namespace"] == "kontaxa"
            group = obj["apiVersion"].rpartition("/")[0]
            assert (group, obj["kind"]) in allowed, f"{obj['kind']} is not allowed in kontaxa-apps"
            used.add((group, obj["kind"]))
    if env == "local":
        assert used == allowed, f"unused allowances: {allowed - used}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_platform_cluster_scoped_kinds_are_allowed(env: str) -> None:
    """What the platform and monitoring trees create cluster-wide, the project permits."""
    project = _projects(env)["kontaxa-platform"]["spec"]
    allowed = {(k["group"], k["kind"]) for k in project["clusterResourceWhitelist"]}
    namespaces = {d["namespace"] for d in project["destinations"]}
    for directory in (f"platform/{env}", f"monitoring/{env}"):
        for obj in render(directory):
            group = obj["apiVersion"].rpartition("/")[0]
            if obj["kind"] in CLUSTER_SCOPED:
                assert (group, obj["kind"]) in allowed, obj["kind"]
            else:
                assert obj["metadata"]["namespace"] in namespaces, obj["metadata"]


def _values(chart_dir: str, env: str) -> dict:
    path = K8S_ROOT / "platform/values" / chart_dir / f"{env}.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def test_environment_add_ons() -> None:
    """kind: emulator and drop-in provider; EKS: the AWS provider and Cluster Autoscaler (IRSA)."""
    local, eks = _applications("local"), _applications("eks")
    assert "secrets-store-csi-driver-provider-aws" in eks
    assert "cluster-autoscaler" in eks
    assert "secrets-store-csi-driver-provider-aws" not in local
    assert "cluster-autoscaler" not in local
    for common in ("secrets-store-csi-driver", "ingress-nginx", "metrics-server"):
        assert common in local
        assert common in eks
    platform = render("platform/local")
    assert one(platform, "DaemonSet", "kontaxa-secrets-provider")
    assert one(platform, "Deployment", "aws-emulator")
    localstack = render("platform/local-localstack")
    assert not find(localstack, "Deployment", "aws-emulator")
    assert one(localstack, "Application", "aws-emulator")["spec"]["sources"][0]["chart"] == (
        "localstack"
    )
    assert (
        one(localstack, "Namespace", "aws-emulator")["metadata"]["labels"][
            "pod-security.kubernetes.io/enforce"
        ]
        == "baseline"
    )


def test_emulator_selection_component() -> None:
    """argocd/components/localstack-emulator points kind's platform at the LocalStack variant."""
    kustomization = yaml.safe_load(
        (K8S_ROOT / "argocd/components/localstack-emulator/kustomization.yaml").read_text()
    )
    (patch,) = kustomization["patches"]
    (operation,) = yaml.safe_load(patch["patch"])
    assert operation["path"] == "/spec/sources/0/path"
    assert operation["value"] == "infra/k8s/platform/local-localstack"
    assert (K8S_ROOT / "platform/local-localstack/kustomization.yaml").is_file()


def _value_files(app: Obj) -> list[str]:
    return app["spec"]["sources"][0]["helm"]["valueFiles"]


def test_helm_values_per_environment() -> None:
    """EKS: tokenRequests for IRSA. kind: insecure kubelet TLS, no control-plane scrapes."""
    local, eks = _applications("local"), _applications("eks")
    assert any(
        f.endswith("secrets-store-csi-driver/eks.yaml")
        for f in _value_files(eks["secrets-store-csi-driver"])
    )
    assert _values("secrets-store-csi-driver", "eks")["tokenRequests"] == [
        {"audience": "sts.amazonaws.com"}
    ]
    common = _values("secrets-store-csi-driver", "common")
    assert common["enableSecretRotation"] is True
    assert common["syncSecret"]["enabled"] is False

    local_metrics = _value_files(local["metrics-server"])
    assert any(f.endswith("metrics-server/local.yaml") for f in local_metrics)
    assert "--kubelet-insecure-tls" in _values("metrics-server", "local")["args"]
    assert "args" not in _values("metrics-server", "eks")

    assert _values("secrets-store-csi-driver-provider-aws", "eks")["secrets-store-csi-driver"] == {
        "install": False
    }
    autoscaler = _values("cluster-autoscaler", "eks")
    # The role ARN comes from Terraform, in the generated values file read after eks.yaml.
    generated = yaml.safe_load(
        (K8S_ROOT / "overlays/eks/terraform/values/cluster-autoscaler.yaml").read_text()
    )
    assert generated["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    # Cluster Autoscaler's minor version must be the cluster's.
    assert autoscaler["image"]["tag"].startswith(f"v{KUBERNETES_VERSION}.")

    monitoring_local = yaml.safe_load((K8S_ROOT / "monitoring/values/local.yaml").read_text())
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert monitoring_local[component] == {"enabled": False}
    assert any(
        f.endswith("monitoring/values/local.yaml")
        for f in _value_files(local["kube-prometheus-stack"])
    )
    assert any(
        f.endswith("monitoring/values/eks.yaml") for f in _value_files(eks["kube-prometheus-stack"])
    )


def test_helm_apps_apply_server_side() -> None:
    """Charts with large CRDs (kube-prometheus-stack above all) sync server-side."""
    for env in ENVIRONMENTS:
        for name, app in _applications(env).items():
            if any("chart" in s for s in app["spec"]["sources"]):
                assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"], name
