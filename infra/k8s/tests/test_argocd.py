"""The Argo CD tree: restrictive projects, self-healing Applications in order, per-env add-ons."""

import fnmatch
import re

import pytest
import yaml
from k8s_manifests import (
    EKS_KUBERNETES_VERSION,
    ENVIRONMENTS,
    K8S_ROOT,
    Obj,
    environment_dirs,
    find,
    merge_values,
    one,
    render,
    render_text,
    without_hash_suffixes,
)

from kontaxa_common.settings import ServiceSettings

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
    # The bootstrap holds every project but the locked default (see test_default_project_is_locked).
    assert {p["metadata"]["name"] for p in find(bootstrap, "AppProject")} == set(_projects(env)) - {
        "default"
    }
    children = {a["metadata"]["name"] for a in find(render(f"argocd/{env}"), "Application")}
    assert children == {"platform", "monitoring", "aux-service", "main-api"}
    assert set(_projects(env)) == {"default", "kontaxa-platform", "kontaxa-addons", "kontaxa-apps"}


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


# The cluster-scoped kinds each pinned chart installs, read in its templates at the pinned
# version: kubernetes-sigs/secrets-store-csi-driver v1.5.6 charts/secrets-store-csi-driver/,
# aws/secrets-store-csi-driver-provider-aws secrets-store-csi-driver-provider-aws-2.1.1
# charts/, kubernetes-sigs/metrics-server metrics-server-helm-chart-3.13.1
# charts/metrics-server/, traefik/traefik-helm-chart v41.3.0 traefik/templates and
# traefik/crds (GatewayClass only with the Gateway provider, webhooks only for Traefik Hub:
# both off), localstack/helm-charts localstack-0.7.0 charts/localstack/ (none);
# kubernetes/autoscaler cluster-autoscaler-chart-9.59.0 cluster-autoscaler/charts/
# cluster-autoscaler/, prometheus-community/helm-charts kube-prometheus-stack-88.5.3 with its
# enabled subcharts (crds, kube-state-metrics 8.4.0, prometheus-node-exporter 4.56.1 without
# kube-rbac-proxy: none, grafana-community/helm-charts grafana-12.11.1), each with this
# repository's values (issue 19; checked again, chart by chart, on 2026-12-02, including hook
# objects and crds/ directories, which Argo CD applies too). Every chart Application also
# creates its namespace (CreateNamespace=true).
_CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
_RBAC = {
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
}
CHART_CLUSTER_KINDS: dict[str, set[tuple[str, str]]] = {
    "secrets-store-csi-driver": {_CRD, *_RBAC, ("storage.k8s.io", "CSIDriver")},
    "secrets-store-csi-driver-provider-aws": _RBAC,
    "metrics-server": {*_RBAC, ("apiregistration.k8s.io", "APIService")},
    "traefik": {_CRD, *_RBAC, ("networking.k8s.io", "IngressClass")},
    "localstack": set(),
    "cluster-autoscaler": _RBAC,
    "kube-prometheus-stack": {
        _CRD,
        *_RBAC,
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    },
}


def _group_kind(obj: Obj) -> tuple[str, str]:
    return obj["apiVersion"].rpartition("/")[0], obj["kind"]


def _kinds(items: list[Obj]) -> set[tuple[str, str]]:
    return {(item["group"], item["kind"]) for item in items}


def _project_usage(project: str) -> dict[str, set]:
    """What the Applications of a project use, in every environment, from the rendered tree.

    A git source with a path: the objects it renders. A chart: its destination namespace
    and CHART_CLUSTER_KINDS (a chart renders only at sync time). The repository's own URL
    is the environment's; it is compared as the first sourceRepos entry.
    """
    used: dict[str, set] = {
        key: set() for key in ("repos", "namespaces", "cluster", "namespaced", "charts")
    }
    for env in ENVIRONMENTS:
        apps = [one(render(f"argocd/bootstrap/{env}"), "Application", "kontaxa-root")]
        for directory in environment_dirs(env):  # variants (platform/local-localstack) too
            apps += find(render(directory), "Application")
        for app in apps:
            if app["spec"]["project"] != project:
                continue
            used["namespaces"].add(app["spec"]["destination"]["namespace"])
            for source in app["spec"]["sources"]:
                used["repos"].add("" if source.get("name") == "kontaxa" else source["repoURL"])
                if "chart" in source:
                    used["charts"].add(source["chart"])
                    used["cluster"] |= {("", "Namespace"), *CHART_CLUSTER_KINDS[source["chart"]]}
                elif "path" in source:
                    for obj in render(source["path"].removeprefix("infra/k8s/")):
                        if obj["kind"] in CLUSTER_SCOPED:
                            used["cluster"].add(_group_kind(obj))
                        else:
                            used["namespaced"].add(_group_kind(obj))
                            used["namespaces"].add(obj["metadata"]["namespace"])
    return used


@pytest.mark.parametrize("name", ["kontaxa-platform", "kontaxa-addons", "kontaxa-apps"])
def test_each_project_admits_exactly_what_its_applications_render(name: str) -> None:
    """Sources, destinations and kinds: each list equals what the project's Applications use."""
    used = _project_usage(name)
    assert used["namespaces"], f"no Application belongs to {name}"
    for env in ENVIRONMENTS:
        spec = _projects(env)[name]["spec"]
        own_repo = next(iter(find(render(f"argocd/{env}"), "Application")))
        assert spec["sourceRepos"][0] == _git_source(own_repo)["repoURL"]
        assert set(spec["sourceRepos"][1:]) == used["repos"] - {""}, f"{name}: sourceRepos"
        assert {d["server"] for d in spec["destinations"]} == {"https://kubernetes.default.svc"}
        assert {d["namespace"] for d in spec["destinations"]} == used["namespaces"], name
        assert _kinds(spec["clusterResourceWhitelist"]) == used["cluster"], name
        if used["charts"]:
            # Charts render many namespaced kinds at sync time; their bound is the namespaces.
            assert "argocd" not in used["namespaces"], f"{name} could create Applications"
            assert "namespaceResourceWhitelist" not in spec
        else:
            assert _kinds(spec["namespaceResourceWhitelist"]) == used["namespaced"], name
    if name != "kontaxa-addons":
        assert not used["charts"], f"{name}: charts belong to kontaxa-addons"
    else:
        assert not used["namespaced"], "kontaxa-addons holds charts only"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_chart_applications_may_install_rbac_crds_or_webhooks(env: str) -> None:
    """Manifests from git create no cluster-wide RBAC, CRD or webhook: charts only."""
    for name, project in _projects(env).items():
        if name == "kontaxa-addons":
            continue
        assert _kinds(project["spec"].get("clusterResourceWhitelist") or []) <= {
            ("", "Namespace"),
            ("storage.k8s.io", "StorageClass"),
        }, name


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_default_project_is_locked(env: str) -> None:
    """argo-cd v3.4.7 docs/user-guide/projects.md "The Default Project": the manifest that
    removes all permissions; server/server.go creates it with "*" sources, destinations and
    cluster kinds, so each is emptied explicitly. No Application uses it."""
    spec = _projects(env)["default"]["spec"]
    assert spec["sourceRepos"] == []
    assert spec["sourceNamespaces"] == []
    assert spec["destinations"] == []
    assert spec["clusterResourceWhitelist"] == []
    assert spec["namespaceResourceBlacklist"] == [{"group": "*", "kind": "*"}]
    assert "namespaceResourceWhitelist" not in spec
    assert not find(render(f"argocd/bootstrap/{env}"), "AppProject", "default")
    for name, app in _applications(env).items():
        assert app["spec"].get("project") not in (None, "", "default"), name


# Namespaces whose loss would take everything in them along. argoproj/argo-cd v3.4.7,
# docs/user-guide/sync-options.md ("No Prune Resources", "No Resource Deletion"): the
# annotation argocd.argoproj.io/sync-options holds comma-joined options, and Prune=false /
# Delete=false on a resource override the Application's prune policy and its cascading
# deletion (resources-finalizer).
PROTECTED_NAMESPACES = {"kontaxa", "monitoring"}


def sync_options(obj: Obj) -> set[str]:
    """The sync options an object's argocd.argoproj.io/sync-options annotation sets."""
    annotation = obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-options", "")
    return {option.strip() for option in annotation.split(",") if option.strip()}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_namespaces_are_never_pruned_or_deleted(env: str) -> None:
    """kontaxa and monitoring carry Prune=false and Delete=false wherever they are rendered."""
    found = set()
    for directory in environment_dirs(env):
        for namespace in find(render(directory), "Namespace"):
            name = namespace["metadata"]["name"]
            if name in PROTECTED_NAMESPACES:
                assert {"Prune=false", "Delete=false"} <= sync_options(namespace), (
                    f"{directory}: Namespace {name} may be pruned or deleted by Argo CD"
                )
                found.add(name)
    assert found == PROTECTED_NAMESPACES


def _values(chart_dir: str, env: str) -> dict:
    path = K8S_ROOT / "platform/values" / chart_dir / f"{env}.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def _effective_values(app: Obj) -> dict:
    """The Application's value files merged in order, as Helm does (later files win)."""
    merged: dict = {}
    for value_file in _value_files(app):
        path = K8S_ROOT.parent.parent / value_file.removeprefix("$values/")
        merged = _merge(merged, yaml.safe_load(path.read_text()) or {})
    return merged


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _seconds(duration: str) -> float:
    """A Go duration such as 30s, 1h or 1h30m, in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts, duration
    assert "".join(n + u for n, u in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def test_rotation_interval_per_environment() -> None:
    """Issue 19 #5: rotation polls at most every 30 s locally (tested there), hourly on EKS.

    The hour is the AWS provider's recommendation (README of
    aws/secrets-store-csi-driver-provider-aws 2.1.1, "A one hour poll interval
    is recommended"): each remount costs a token request, an STS call and one
    Secrets Manager call per object. Read from the rendered Applications' value files.
    """
    local = _effective_values(_applications("local")["secrets-store-csi-driver"])
    eks = _effective_values(_applications("eks")["secrets-store-csi-driver"])
    for values in (local, eks):
        assert values["enableSecretRotation"] is True
    assert _seconds(local["rotationPollInterval"]) <= 30
    assert _seconds(eks["rotationPollInterval"]) == 3600


@pytest.mark.parametrize("env", ["local", "eks"])
@pytest.mark.parametrize("service", ["main-api", "aux-service"])
def test_the_previous_service_token_outlives_a_rotation_interval(env: str, service: str) -> None:
    """Both services keep the service token before a rotation in use for
    SERVICE_TOKEN_GRACE_SECONDS after their own mount changes (aux-service accepts it,
    main-api tries it when aux-service refuses the new one); the driver polls each pod's
    mount on its own, so the other's may change up to one rotation interval later. A shorter
    grace refuses main-api (502 on every data call) for the rest of that interval: on EKS,
    most of an hour at the default 120 s.
    """
    values = _effective_values(_applications(env)["secrets-store-csi-driver"])
    interval = _seconds(values["rotationPollInterval"])
    config = one(without_hash_suffixes(render(f"overlays/{env}")), "ConfigMap", f"{service}-config")
    default = ServiceSettings.model_fields["service_token_grace_seconds"].default
    grace = float(config["data"].get("SERVICE_TOKEN_GRACE_SECONDS", default))
    assert grace >= interval + 60, (env, grace, interval)


def test_aws_provider_lets_the_driver_write_the_files() -> None:
    """EKS mounts with the driver's atomic ..data layout, as kind does with our provider.

    aws/secrets-store-csi-driver-provider-aws 2.1.1: values.yaml has
    driverWritesSecrets (default false); templates/daemonset.yaml turns it into
    --driver-writes-secrets=true; server/server.go writeFile then returns the
    files in the MountResponse instead of writing them.
    """
    app = _applications("eks")["secrets-store-csi-driver-provider-aws"]
    assert app["spec"]["sources"][0]["targetRevision"] == "2.1.1"
    assert _effective_values(app)["driverWritesSecrets"] is True


def test_environment_add_ons() -> None:
    """kind: emulator and drop-in provider; EKS: the AWS provider and Cluster Autoscaler (IRSA)."""
    local, eks = _applications("local"), _applications("eks")
    assert "secrets-store-csi-driver-provider-aws" in eks
    assert "cluster-autoscaler" in eks
    assert "secrets-store-csi-driver-provider-aws" not in local
    assert "cluster-autoscaler" not in local
    for common in ("secrets-store-csi-driver", "traefik", "metrics-server"):
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
    """EKS: no driver token requests. kind: insecure kubelet TLS, no control-plane scrapes."""
    local, eks = _applications("local"), _applications("eks")
    assert any(
        f.endswith("secrets-store-csi-driver/eks.yaml")
        for f in _value_files(eks["secrets-store-csi-driver"])
    )
    # aws/secrets-store-csi-driver-provider-aws 2.1.1 credential_provider/
    # irsa_credential_provider.go calls CreateToken itself: no driver token requests.
    assert "tokenRequests" not in _effective_values(eks["secrets-store-csi-driver"])
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
    assert autoscaler["image"]["tag"].startswith(f"v{EKS_KUBERNETES_VERSION}.")

    # The scrapes each environment turns off: test_monitoring.py.
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


def _leaf_paths(node: object, prefix: str = "") -> set[str]:
    """Every key path of a values document down to its leaves (a list is a leaf)."""
    if isinstance(node, dict) and node:
        return {p for key, value in node.items() for p in _leaf_paths(value, f"{prefix}.{key}")}
    return {prefix.removeprefix(".")}


# Each values key the Traefik files set, and what it does, read in traefik/traefik-helm-chart
# v41.3.0 traefik/values.yaml and traefik/values.schema.json (additionalProperties false at
# every level these keys sit: an unknown key fails the chart's own validation) and the
# templates _podtemplate.tpl (hostPort, http.redirections.entryPoint -> --entryPoints.web.
# http.redirections.entryPoint.*), _service.tpl (service.spec copied into the Service spec,
# service.annotations onto it; ports.<name>.http.sanitizePath -> --entryPoints.<name>.http.
# sanitizePath), ingressclass.yaml, poddisruptionbudget.yaml, deployment.yaml (updateStrategy).
TRAEFIK_KEYS = {
    "ingressClass.enabled",
    "ingressClass.isDefaultClass",
    "ingressClass.name",
    "providers.kubernetesCRD.enabled",
    "providers.kubernetesIngress.enabled",
    "providers.kubernetesIngress.publishedService.enabled",
    "providers.kubernetesIngress.ingressEndpoint.hostname",
    "deployment.replicas",
    "podDisruptionBudget.enabled",
    "podDisruptionBudget.minAvailable",
    "topologySpreadConstraints",
    "service.annotations.service.beta.kubernetes.io/aws-load-balancer-type",
    "service.annotations.service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled",
    "service.spec.type",
    "service.spec.externalTrafficPolicy",
    "ports.web.http.redirections.entryPoint.to",
    "ports.web.http.redirections.entryPoint.scheme",
    "ports.web.http.redirections.entryPoint.permanent",
    "ports.web.hostPort",
    "ports.web.http.sanitizePath",
    "ports.websecure.http.sanitizePath",
    "ports.websecure.hostPort",
    "updateStrategy.rollingUpdate.maxUnavailable",
    "updateStrategy.rollingUpdate.maxSurge",
    "nodeSelector.ingress-ready",
    "nodeSelector.kubernetes.io/os",
    "tolerations",
}

# The Service annotations the in-tree AWS load balancer controller reads:
# kubernetes/cloud-provider-aws v1.34.3 pkg/providers/v1/aws.go (ServiceAnnotation* constants;
# the NLB's scheme follows aws-load-balancer-internal, there is no scheme annotation, and
# reconcileLBAttributes in aws_loadbalancer.go applies cross-zone to the NLB).
IN_TREE_AWS_LB_ANNOTATIONS = {
    f"service.beta.kubernetes.io/aws-load-balancer-{name}"
    for name in (
        "type",
        "internal",
        "cross-zone-load-balancing-enabled",
        "additional-resource-tags",
        "access-log-enabled",
        "access-log-emit-interval",
        "backend-protocol",
        "connection-draining-enabled",
        "connection-draining-timeout",
        "connection-idle-timeout",
        "eip-allocations",
        "extra-security-groups",
        "healthcheck-healthy-threshold",
        "healthcheck-interval",
        "healthcheck-path",
        "healthcheck-port",
        "healthcheck-protocol",
        "healthcheck-timeout",
        "healthcheck-unhealthy-threshold",
        "proxy-protocol",
        "security-groups",
        "ssl-cert",
        "ssl-negotiation-policy",
        "ssl-ports",
        "subnets",
        "target-group-attributes",
        "target-node-labels",
    )
}


def _traefik_values(env: str) -> dict:
    return merge_values(_values("traefik", "common"), _values("traefik", env))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_traefik_passes_request_paths_on_as_sent(env: str) -> None:
    """Traefik cleans request paths unless told not to (sanitizePath defaults to true:
    traefik v3.7.9 pkg/config/static/entrypoints.go HTTPConfig.SetDefaults; unreserved
    escapes decoded, then /./, /../ and repeated slashes removed, server_entrypoint_tcp.go).
    Behind it, /parameters/a//b would reach main-api as the valid name a/b, and
    /parameters/%2e%2e/x as /x: an invalid name answered as another. main-api validates
    names itself (e2e/tests/test_faults.py sends both through the Ingress on kind)."""
    ports = _traefik_values(env)["ports"]
    for entry_point in ("web", "websecure"):
        assert ports[entry_point]["http"]["sanitizePath"] is False, entry_point


def test_traefik_on_kind_rolls_out_with_its_node_ports_held() -> None:
    """On kind Traefik holds the node's ports 80 and 443 (hostPort) on the one node, so a
    surge pod is never scheduled; the chart's default strategy (traefik-helm-chart v41.3.0
    values.yaml: maxUnavailable 0, maxSurge 1) would never finish a rollout."""
    values = _traefik_values("local")
    assert values["ports"]["web"]["hostPort"] == 80
    assert values["updateStrategy"]["rollingUpdate"] == {"maxUnavailable": 1, "maxSurge": 0}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_traefik_serves_the_ingress_class_on_one_shape(env: str) -> None:
    """Traefik replaces the retired ingress-nginx; main-api's Ingress names its class; every
    values key is one of the pinned chart's; kind binds the node's ports, EKS gets an NLB."""
    app = _applications(env)["traefik"]
    (chart,) = [s for s in app["spec"]["sources"] if "chart" in s]
    assert (chart["repoURL"], chart["chart"], chart["targetRevision"]) == (
        "https://traefik.github.io/charts",
        "traefik",
        "41.3.0",
    )
    files = [f.rpartition("/platform/values/")[2] for f in _value_files(app)]
    assert files == ["traefik/common.yaml", f"traefik/{env}.yaml"]
    for name in ("common", env):
        used = _leaf_paths(_values("traefik", name))
        assert used <= TRAEFIK_KEYS, (
            f"traefik/{name}.yaml: keys not read in the chart: {used - TRAEFIK_KEYS}"
        )
    values = _traefik_values(env)
    assert values["providers"]["kubernetesIngress"]["enabled"] is True
    ingress = one(render(f"overlays/{env}/main-api"), "Ingress", "main-api")
    assert ingress["spec"]["ingressClassName"] == values["ingressClass"]["name"] == "traefik"
    assert not any("nginx" in key for key in ingress["metadata"].get("annotations", {}))
    policy = one(render(f"overlays/{env}/main-api"), "NetworkPolicy", "main-api")
    peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
    } in peers, "main-api admits Traefik's pods (chart label app.kubernetes.io/name)"
    assert app["spec"]["destination"]["namespace"] == "traefik"
    if env == "local":
        assert values["ports"]["web"]["hostPort"] == 80
        assert values["ports"]["websecure"]["hostPort"] == 443
        assert values["nodeSelector"]["ingress-ready"] == "true"
        assert values["service"]["spec"]["type"] == "ClusterIP", "kind has no load balancer"
    else:
        assert values["service"]["spec"]["type"] == "LoadBalancer"
        annotations = values["service"]["annotations"]
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
        assert set(annotations) <= IN_TREE_AWS_LB_ANNOTATIONS, (
            set(annotations) - IN_TREE_AWS_LB_ANNOTATIONS
        )
        assert "service.beta.kubernetes.io/aws-load-balancer-internal" not in annotations
        assert values["ports"]["web"]["http"]["redirections"]["entryPoint"] == {
            "to": "websecure",
            "scheme": "https",
            "permanent": True,
        }
        assert ingress["spec"]["tls"][0]["secretName"] == "main-api-tls"


def test_no_retired_ingress_nginx_remains() -> None:
    """kubernetes/ingress-nginx is retired (its README: no further releases or fixes)."""
    for env in ENVIRONMENTS:
        for directory in environment_dirs(env):
            assert "ingress-nginx" not in render_text(directory), directory
        for project in _projects(env).values():
            assert not any("ingress-nginx" in r for r in project["spec"].get("sourceRepos", []))
