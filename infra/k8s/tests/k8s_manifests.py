"""Shared code of the offline manifest tests: rendering, schemas, object look-ups.

Imported by the tests as `k8s_manifests` (conftest.py puts this directory on
sys.path). Everything here works without a cluster or a network: `kubectl kustomize` renders,
kubernetes-validate holds the Kubernetes schemas, infra/k8s/schemas the CRD schemas.
"""

import functools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import referencing
import yaml

K8S_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = K8S_ROOT.parents[1]
SCHEMAS_DIR = K8S_ROOT / "schemas"

# The Kubernetes minors the clusters run: kind's pinned node image (the local gate) and the
# EKS cluster version (Terraform's kubernetes_version default; test_eks_cluster.py keeps it,
# the Cluster Autoscaler image and the kube-proxy add-on aligned). Every manifest validates
# against both, so what passes on kind is valid on EKS. kubernetes-validate holds 1.25 to 1.37.
KIND_KUBERNETES_VERSION = "1.33"
EKS_KUBERNETES_VERSION = "1.35"
KUBERNETES_VERSIONS = (KIND_KUBERNETES_VERSION, EKS_KUBERNETES_VERSION)

ENVIRONMENTS = ("local", "eks")

# checkov runs isolated (uvx): its pinned dependencies conflict with the workspace's.
CHECKOV_VERSION = "3.3.30"

# Kustomizations that cannot render offline, each with the reason.
NOT_RENDERED_OFFLINE = {
    "argocd/install": "it pulls the pinned upstream Argo CD install manifest at apply time",
}

Obj = dict[str, Any]


def kustomization_dirs() -> list[str]:
    """Every directory under infra/k8s holding a Kustomization (Components excluded)."""
    found = []
    for path in sorted(K8S_ROOT.rglob("kustomization.yaml")):
        document = yaml.safe_load(path.read_text())
        if document.get("kind", "Kustomization") == "Kustomization":
            found.append(path.parent.relative_to(K8S_ROOT).as_posix())
    return found


def rendered_dirs() -> list[str]:
    """The kustomization directories the tests render."""
    return [d for d in kustomization_dirs() if d not in NOT_RENDERED_OFFLINE]


def environment_of(directory: str) -> str | None:
    """The environment a kustomization directory belongs to (a path segment), if any."""
    for segment in directory.split("/"):
        for env in ENVIRONMENTS:
            if segment == env or segment.startswith(f"{env}-"):
                return env
    return None


def environment_dirs(env: str) -> list[str]:
    """The rendered directories of one environment."""
    return [d for d in rendered_dirs() if environment_of(d) == env]


@functools.cache
def render(directory: str) -> tuple[Obj, ...]:
    """The objects `kubectl kustomize infra/k8s/<directory>` prints; fails the test on error."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the manifests cannot be rendered")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S_ROOT / directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize infra/k8s/{directory} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render_text(directory: str) -> str:
    """The rendered objects of a directory as one YAML stream."""
    return yaml.safe_dump_all(render(directory), sort_keys=True)


def find(objects: tuple[Obj, ...], kind: str, name: str | None = None) -> list[Obj]:
    """The objects of a kind (and name)."""
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: tuple[Obj, ...], kind: str, name: str) -> Obj:
    """The single object of a kind and name; fails when it is missing or repeated."""
    matches = find(objects, kind, name)
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


# kustomize's configMapGenerator appends a hash of the content to the name: "-" and ten
# characters (kustomize api/hasher: the hash encoded with consonants and digits).
_HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}$")


def generated(objects: tuple[Obj, ...], kind: str, name: str) -> Obj:
    """The single object of a kind generated as `name` (a kustomize generator appended a hash)."""
    matches = [
        o
        for o in objects
        if o["kind"] == kind
        and _HASH_SUFFIX.search(o["metadata"]["name"])
        and _HASH_SUFFIX.sub("", o["metadata"]["name"]) == name
    ]
    assert len(matches) == 1, f"expected one generated {kind}/{name}-<hash>, found {len(matches)}"
    return matches[0]


def without_hash_suffixes(objects: tuple[Obj, ...]) -> tuple[Obj, ...]:
    """The objects with every generated ConfigMap's name, and each reference to it, unhashed."""
    hashed = {
        o["metadata"]["name"]: _HASH_SUFFIX.sub("", o["metadata"]["name"])
        for o in objects
        if o["kind"] == "ConfigMap" and _HASH_SUFFIX.search(o["metadata"]["name"])
    }

    def replace(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: replace(value) for key, value in node.items()}
        if isinstance(node, list):
            return [replace(item) for item in node]
        return hashed.get(node, node) if isinstance(node, str) else node

    return tuple(replace(o) for o in objects)


def pod_spec(workload: Obj) -> Obj:
    """The pod spec of any workload kind."""
    spec = workload["spec"]
    if workload["kind"] == "Pod":
        return spec
    if workload["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return spec["template"]["spec"]


WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob", "Pod"}


@dataclass(frozen=True)
class CrdSchema:
    """One reduced CRD schema (infra/k8s/schemas) and where it came from."""

    group: str
    kind: str
    version: str
    source: dict[str, str]
    schema: Obj


def strict_schema(node: Any) -> Any:
    """A CRD's structural schema as strict JSON Schema.

    The API server prunes (and, with strict field validation, rejects) fields its
    schema does not declare; here every object schema that declares `properties`
    and neither `additionalProperties` nor `x-kubernetes-preserve-unknown-fields`
    rejects unknown fields. int-or-string and nullable become JSON Schema types.
    """
    if isinstance(node, list):
        return [strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict_schema(value) for key, value in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields", False)
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_schemas() -> dict[tuple[str, str, str], CrdSchema]:
    """Every committed CRD schema by (group, version, kind)."""
    schemas = {}
    for path in sorted(SCHEMAS_DIR.rglob("*.json")):
        document = json.loads(path.read_text())
        for version, schema in document["versions"].items():
            key = (document["group"], version, document["kind"])
            schemas[key] = CrdSchema(
                document["group"], document["kind"], version, document["source"], schema
            )
    return schemas


class NoSchemaError(Exception):
    """An object whose kind has neither a Kubernetes nor a committed CRD schema."""


@functools.cache
def _object_meta_registry() -> referencing.Registry[Any]:
    """kubernetes-validate's strict definitions (ObjectMeta for custom resources)."""
    version = kubernetes_validate.utils.major_minor(EKS_KUBERNETES_VERSION)
    definitions = kubernetes_validate.utils.schema_contents(
        f"kubernetes-json-schema/v{version}.0-local-strict/_definitions.json", version
    )
    return referencing.Resource.from_contents(definitions) @ referencing.Registry()


def validate_object(obj: Obj) -> str:
    """Validate one object strictly; return which schema did it. Raises on any failure.

    Built-in kinds use kubernetes-validate's strict schemas of every KUBERNETES_VERSIONS;
    custom resources use the committed CRD schema of their group, version and kind.
    An object with neither raises NoSchemaError: nothing is skipped silently.
    """
    try:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
        return f"kubernetes {' and '.join(KUBERNETES_VERSIONS)}"
    except kubernetes_validate.SchemaNotFoundError:
        pass
    group, _, version = obj["apiVersion"].rpartition("/")
    crd = crd_schemas().get((group, version, obj["kind"]))
    if crd is None:
        raise NoSchemaError(
            f"{obj['apiVersion']} {obj['kind']} has no schema: neither Kubernetes "
            f"{EKS_KUBERNETES_VERSION} nor infra/k8s/schemas knows it (add its CRD with "
            "infra/k8s/schemas/reduce_crd.py)"
        )
    schema = strict_schema(crd.schema)
    schema["properties"]["metadata"] = {
        "$ref": "https://kubernetes.io/api/_definitions.json"
        "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    }
    schema["properties"]["apiVersion"] = {"const": obj["apiVersion"]}
    schema["properties"]["kind"] = {"const": crd.kind}
    validator = jsonschema.Draft202012Validator(schema, registry=_object_meta_registry())
    validator.validate(obj)
    return f"{crd.source['repository']}@{crd.source['ref']}"


def merge_values(*documents: Obj) -> Obj:
    """Values files layered the way Helm layers them: maps merge key by key, later wins."""
    merged: Obj = {}
    for document in documents:
        for key, value in document.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge_values(merged[key], value)
            else:
                merged[key] = value
    return merged


def walk(node: Any) -> Iterator[Any]:
    """Every nested value of a document."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)
