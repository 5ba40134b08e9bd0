"""Every rendered object validates strictly: Kubernetes kinds and every custom resource."""

import copy
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml
from k8s_manifests import (
    EKS_KUBERNETES_VERSION,
    K8S_ROOT,
    KIND_KUBERNETES_VERSION,
    KUBERNETES_VERSIONS,
    NoSchemaError,
    crd_schemas,
    find,
    one,
    render,
    rendered_dirs,
    validate_object,
    without_hash_suffixes,
)

# The custom resources these manifests use, and the pinned release each schema comes from.
EXPECTED_CRDS = {
    ("argoproj.io", "v1alpha1", "Application"),
    ("argoproj.io", "v1alpha1", "AppProject"),
    ("secrets-store.csi.x-k8s.io", "v1", "SecretProviderClass"),
    ("monitoring.coreos.com", "v1", "PodMonitor"),
    ("monitoring.coreos.com", "v1", "PrometheusRule"),
}


@pytest.mark.parametrize("directory", rendered_dirs())
def test_every_object_validates_strictly(directory: str) -> None:
    """Each object matches its schema; an object without any schema fails."""
    failures = []
    for obj in render(directory):
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            validate_object(obj)
        except (NoSchemaError, jsonschema.ValidationError) as error:
            failures.append(f"{name}: {error.message if hasattr(error, 'message') else error}")
    assert not failures, "\n".join(failures)


def test_every_crd_backed_kind_in_use_has_a_schema() -> None:
    """The kinds Kubernetes has no schema for are exactly the ones with committed CRD schemas."""
    in_use = set()
    for directory in rendered_dirs():
        for obj in render(directory):
            try:
                for version in KUBERNETES_VERSIONS:
                    kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                group, _, version = obj["apiVersion"].rpartition("/")
                in_use.add((group, version, obj["kind"]))
    assert in_use == EXPECTED_CRDS
    assert set(crd_schemas()) >= EXPECTED_CRDS
    committed_kinds = {(group, kind) for group, _, kind in crd_schemas()}
    assert committed_kinds == {(group, kind) for group, _, kind in EXPECTED_CRDS}, (
        "a committed schema nothing uses"
    )


def test_unknown_kind_fails() -> None:
    """A kind nobody has a schema for is an error, not a skip."""
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(NoSchemaError, match="Widget"):
        validate_object(obj)


def _local_object(kind: str, name: str) -> dict:
    for directory in ("overlays/local", "argocd/local", "monitoring/local"):
        matches = find(without_hash_suffixes(render(directory)), kind, name)
        if matches:
            return copy.deepcopy(matches[0])
    raise AssertionError(f"{kind}/{name} is not rendered")


@pytest.mark.parametrize(
    ("kind", "name", "mutate"),
    [
        # A misspelt field of a custom resource (the API server would prune or reject it).
        ("SecretProviderClass", "main-api-secrets", lambda o: o["spec"].update(provder="aws")),
        ("Application", "main-api", lambda o: o["spec"]["syncPolicy"].update(selfheal=True)),
        ("AppProject", "kontaxa-apps", lambda o: o["spec"].update(sourceRepo=["x"])),
        ("PodMonitor", "main-api", lambda o: o["spec"]["podMetricsEndpoints"][0].update(prot="x")),
        ("PrometheusRule", "kontaxa-slo", lambda o: o["spec"]["groups"][0].update(rule=[])),
        # Wrong types and a misspelt metadata field of a custom resource.
        ("Application", "main-api", lambda o: o["spec"]["syncPolicy"]["retry"].update(limit="x")),
        ("SecretProviderClass", "main-api-secrets", lambda o: o["metadata"].update(label={})),
        # Built-in kinds: strict too.
        ("Deployment", "main-api", lambda o: o["spec"]["template"]["spec"].update(hostname1="x")),
        ("ConfigMap", "main-api-config", lambda o: o.update(date={})),
    ],
)
def test_validation_rejects_a_broken_object(kind: str, name: str, mutate) -> None:  # type: ignore[no-untyped-def]
    """The validation can fail: a changed copy of a rendered object is rejected."""
    obj = _local_object(kind, name)
    validate_object(obj)
    mutate(obj)
    with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)):
        validate_object(obj)


def test_kubernetes_version_is_supported() -> None:
    """kubernetes-validate holds the target version's schemas (no silent fallback)."""
    for version in KUBERNETES_VERSIONS:
        assert f"{version}.0" in kubernetes_validate.utils.all_versions()


def _chart_version(directory: str, chart: str) -> str:
    for app in find(render(directory), "Application"):
        for source in app["spec"]["sources"]:
            if source.get("chart") == chart:
                return str(source["targetRevision"])
    raise AssertionError(f"no Application installs chart {chart} in {directory}")


def test_schemas_come_from_the_pinned_versions() -> None:
    """Each CRD schema is the one of the version the cluster actually installs."""
    schemas = crd_schemas()
    install = yaml.safe_load((K8S_ROOT / "argocd/install/kustomization.yaml").read_text())
    argocd_url = next(r for r in install["resources"] if "://" in r)
    argocd_version = re.search(r"/(v\d+\.\d+\.\d+)/", argocd_url)
    assert argocd_version is not None
    for kind in ("Application", "AppProject"):
        source = schemas[("argoproj.io", "v1alpha1", kind)].source
        assert source["repository"] == "argoproj/argo-cd"
        assert source["ref"] == argocd_version.group(1)

    csi = schemas[("secrets-store.csi.x-k8s.io", "v1", "SecretProviderClass")].source
    assert csi["repository"] == "kubernetes-sigs/secrets-store-csi-driver"
    assert csi["ref"] == "v" + _chart_version("platform/local", "secrets-store-csi-driver")
    assert _chart_version("platform/eks", "secrets-store-csi-driver") == csi["ref"][1:]

    kps = _chart_version("monitoring/local", "kube-prometheus-stack")
    assert _chart_version("monitoring/eks", "kube-prometheus-stack") == kps
    for kind in ("PodMonitor", "PrometheusRule"):
        source = schemas[("monitoring.coreos.com", "v1", kind)].source
        assert source["repository"] == "prometheus-community/helm-charts"
        assert source["ref"] == f"kube-prometheus-stack-{kps}"
    for source in (s.source for s in schemas.values()):
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])


def test_argocd_cm_patch_validates() -> None:
    """The argocd-cm patch (not rendered offline) is a valid ConfigMap on its own."""
    patch = yaml.safe_load((K8S_ROOT / "argocd/install/argocd-cm.yaml").read_text())
    validate_object(patch)
    namespace = yaml.safe_load((K8S_ROOT / "argocd/install/namespace.yaml").read_text())
    validate_object(namespace)
    health = patch["data"]["resource.customizations.health.argoproj.io_Application"]
    assert "obj.status.health.status" in health
    assert one(render("argocd/local"), "Application", "platform")


def test_schemas_target_the_kubernetes_version_the_clusters_run() -> None:
    """kind's pinned node image and the EKS default are the minors the schemas validate."""
    settings = (K8S_ROOT.parents[1] / "local/src/kontaxa_local/settings.py").read_text()
    node = re.search(r"kindest/node:v(\d+\.\d+)\.\d+@sha256", settings)
    assert node, "KIND_NODE_IMAGE is not a pinned kindest/node image"
    eks = (K8S_ROOT.parents[1] / "infra/terraform/modules/eks/variables.tf").read_text()
    default = re.search(r'variable "kubernetes_version" \{[^}]*default\s*=\s*"([\d.]+)"', eks)
    assert default, "infra/terraform/modules/eks: kubernetes_version has no default"
    assert node[1] == KIND_KUBERNETES_VERSION
    assert default[1] == EKS_KUBERNETES_VERSION
