"""Hardening of every workload, pinned images, and overlays that differ only where allowed."""

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_manifests import (
    ENVIRONMENTS,
    K8S_ROOT,
    REPO_ROOT,
    WORKLOAD_KINDS,
    Obj,
    environment_of,
    find,
    generated,
    one,
    pod_spec,
    render,
    rendered_dirs,
    walk,
    without_hash_suffixes,
)

SERVICES = ("main-api", "aux-service")

# Workloads that may run as root, and why. They must still drop every capability,
# forbid privilege escalation and keep a read-only root filesystem.
ROOT_ALLOWED = {
    ("DaemonSet", "kontaxa-secrets-provider"): "creates its socket in the root-owned host dir",
}
# Pods that mount a service-account token, and why.
TOKEN_ALLOWED: dict[tuple[str, str], str] = {}


def _workloads() -> dict[tuple[str, str, str, str], Obj]:
    """Every workload of every environment tree, by (environment, kind, namespace, name)."""
    found = {}
    for directory in rendered_dirs():
        env = environment_of(directory)
        if env is None:
            continue
        for obj in render(directory):
            if obj["kind"] in WORKLOAD_KINDS:
                namespace = obj["metadata"].get("namespace", "")
                found[(env, obj["kind"], namespace, obj["metadata"]["name"])] = obj
    return found


WORKLOADS = _workloads()


def test_the_workloads_are_found() -> None:
    """The policy below sees the services, the provider DaemonSet and the emulator."""
    names = {name for _, _, _, name in WORKLOADS}
    assert {"main-api", "aux-service", "kontaxa-secrets-provider", "aws-emulator"} <= names


def _containers(spec: Obj) -> list[Obj]:
    return spec.get("initContainers", []) + spec["containers"]


def _id(key: tuple[str, str, str, str]) -> str:
    return f"{key[0]}:{key[1]}/{key[3]}"


@pytest.mark.parametrize("key", sorted(WORKLOADS), ids=_id)
def test_workload_is_hardened(key: tuple[str, str, str, str]) -> None:
    """Non-root, read-only root, no capabilities, RuntimeDefault seccomp, bounded resources."""
    _, kind, _, name = key
    spec = pod_spec(WORKLOADS[key])
    pod_security = spec.get("securityContext", {})
    assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(host_namespace), host_namespace
    may_run_as_root = (kind, name) in ROOT_ALLOWED
    for container in _containers(spec):
        security = container.get("securityContext", {})
        where = f"{kind}/{name} container {container['name']}"
        assert security.get("allowPrivilegeEscalation") is False, where
        assert security.get("readOnlyRootFilesystem") is True, where
        assert security.get("privileged", False) is False, where
        # A container's own profile replaces the pod's: none may swap RuntimeDefault out.
        assert security.get("seccompProfile", {}).get("type", "RuntimeDefault") == (
            "RuntimeDefault"
        ), where
        assert security.get("capabilities", {}).get("drop") == ["ALL"], where
        assert not security.get("capabilities", {}).get("add"), where
        run_as_non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
        if not may_run_as_root:
            assert run_as_non_root is True, where
            assert security.get("runAsUser", pod_security.get("runAsUser", 1)) != 0, where
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                assert resource in container.get("resources", {}).get(bound, {}), (
                    f"{where}: no {bound}.{resource}"
                )


# kind v0.29.0's default node image, the one KIND_NODE_IMAGE pins; its containerd is v2.1.1
# (kind's images/base/Dockerfile at v0.29.0, CONTAINERD_VERSION).
REVIEWED_NODE_IMAGE = (
    "kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f"
)


def test_the_node_runtime_lets_the_services_choose_sched_batch() -> None:
    """The services put their threads under SCHED_BATCH with `sched_setscheduler`
    (kontaxa_common.server.schedule_in_batches, CPU_BATCH_SCHEDULING), inside pods under the
    RuntimeDefault seccomp profile (test_workload_is_hardened) with every capability dropped.

    Lowering one's own policy needs no capability. containerd's RuntimeDefault profile
    (contrib/seccomp/seccomp_default.go, DefaultProfile) allows `sched_setscheduler` without
    condition in each release read: v1.7.0, v1.7.29, v2.0.0, v2.1.1 (the kind node image's)
    and main as of 2026-08. EKS nodes are not pinned here; that their containerd, 1.7 or 2.x,
    allows it is inferred from those reads, not tested. The container tier runs the call
    under Docker's default profile (tests/containers/test_run.py). A refusal costs no
    request: one warning, and the threads keep their policy.

    This is a tripwire on the pinned image, not a check of the profile: a new
    KIND_NODE_IMAGE in settings fails it until its containerd's profile has been read (an
    image chosen through the environment is the user's to check).
    """
    from kontaxa_local.settings import KIND_NODE_IMAGE

    assert KIND_NODE_IMAGE == REVIEWED_NODE_IMAGE, (
        f"KIND_NODE_IMAGE is {KIND_NODE_IMAGE}: read contrib/seccomp/seccomp_default.go at the "
        "containerd version of the new node image (kind's images/base/Dockerfile, "
        "CONTAINERD_VERSION), check that DefaultProfile still allows sched_setscheduler, "
        "then update REVIEWED_NODE_IMAGE"
    )


@pytest.mark.parametrize("key", sorted(WORKLOADS), ids=_id)
def test_token_mounted_only_where_needed(key: tuple[str, str, str, str]) -> None:
    """No service-account token in a pod unless it needs one (IRSA)."""
    _, kind, _, name = key
    spec = pod_spec(WORKLOADS[key])
    mounts = spec.get("automountServiceAccountToken")
    if (kind, name) in TOKEN_ALLOWED:
        assert mounts is True
    else:
        assert mounts is False, f"{kind}/{name} mounts a service-account token"


# The EKS pod identity webhook (aws/amazon-eks-pod-identity-webhook, tag v0.6.17, file
# pkg/handler/handler.go, Modifier.getPodSpecPatch) adds its own projected volume with a
# ServiceAccountTokenProjection (the role's audience and expiry) and the AWS_ROLE_ARN /
# AWS_WEB_IDENTITY_TOKEN_FILE env to each container of a pod whose ServiceAccount carries
# the role annotation. Nothing in the repository at that tag reads automountServiceAccountToken
# (`git grep -i automount v0.6.17` finds nothing), and the kubelet mints projected tokens by
# TokenRequest whatever the automount setting: IRSA needs no automounted API token.
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def test_irsa_needs_no_automounted_token() -> None:
    """aux-service on EKS: the IRSA annotation is there, the Kubernetes API token is not."""
    objects = render("overlays/eks")
    account = one(objects, "ServiceAccount", "aux-service")
    assert IRSA_ANNOTATION in account["metadata"].get("annotations", {})
    assert account["automountServiceAccountToken"] is False
    spec = pod_spec(one(objects, "Deployment", "aux-service"))
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "aux-service"
    # No volume of our own takes the webhook's name or path (it skips an existing volume).
    assert all(v["name"] != "aws-iam-token" for v in spec.get("volumes", []))


@pytest.mark.parametrize("service", SERVICES)
def test_api_docs_are_off_on_eks(service: str) -> None:
    """/docs, /redoc and /openapi.json are served locally (tests, fuzzing), never on EKS."""
    for env, expected in (("eks", "false"), ("local", "true")):
        config = generated(render(f"overlays/{env}"), "ConfigMap", f"{service}-config")
        assert config["data"]["API_DOCS"] == expected, env


def test_exceptions_are_still_in_use() -> None:
    """Every exception above names a real workload (no stale allowance)."""
    present = {(kind, name) for _, kind, _, name in WORKLOADS}
    assert set(ROOT_ALLOWED) <= present
    assert set(TOKEN_ALLOWED) <= present


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_service_pod_contract(env: str, service: str) -> None:
    """Probes, preStop pause, zone spread and the read-only CSI secrets mount."""
    deployment = one(render(f"overlays/{env}"), "Deployment", service)
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] >= 3
    assert (
        spec["terminationGracePeriodSeconds"]
        > container["lifecycle"]["preStop"]["sleep"]["seconds"]
    )
    spread = {c["topologyKey"]: c for c in spec["topologySpreadConstraints"]}
    assert "topology.kubernetes.io/zone" in spread
    selector = spread["topology.kubernetes.io/zone"]["labelSelector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    volumes = {v["name"]: v for v in spec["volumes"]}
    csi_mounts = [m for m in container["volumeMounts"] if "csi" in volumes[m["name"]]]
    assert len(csi_mounts) == 1
    assert csi_mounts[0]["readOnly"] is True
    csi = volumes[csi_mounts[0]["name"]]["csi"]
    assert csi["driver"] == "secrets-store.csi.k8s.io"
    assert csi["readOnly"] is True
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


IMAGE = re.compile(
    r"^(?P<name>[^@:]+(?::\d+/[^@:]+)?)(?::(?P<tag>[\w][\w.-]*))?(?:@sha256:[0-9a-f]{64})?$"
)


def _images() -> set[str]:
    return {
        container["image"]
        for workload in WORKLOADS.values()
        for container in _containers(pod_spec(workload))
    }


def test_every_image_is_pinned() -> None:
    """Tag or digest on every image; never `latest`."""
    images = _images()
    assert len(images) >= 5
    for image in images:
        match = IMAGE.match(image)
        assert match, f"unparseable image {image}"
        assert match["tag"] or "@sha256:" in image, f"{image} is not pinned"
        assert match["tag"] != "latest", f"{image} uses latest"


def test_helm_images_and_charts_are_pinned() -> None:
    """Chart versions are exact; image tags set in values files are exact."""
    for directory in rendered_dirs():
        if not environment_of(directory):
            continue
        for app in find(render(directory), "Application"):
            for source in app["spec"]["sources"]:
                if "chart" in source:
                    assert re.fullmatch(r"\d+\.\d+\.\d+", str(source["targetRevision"])), (
                        f"{app['metadata']['name']}: chart version {source['targetRevision']}"
                    )
    for values in (K8S_ROOT / "platform/values").rglob("*.yaml"):
        for node in walk(yaml.safe_load(values.read_text())):
            if isinstance(node, dict) and "tag" in node:
                assert str(node["tag"]) not in ("", "latest"), values


def test_emulator_images() -> None:
    """moto in kind is the image built here from the locked wheels (services/aws-emulator,
    loaded by the runner); LocalStack is the last free upstream tag."""
    emulator = one(render("platform/local"), "Deployment", "aws-emulator")
    (container,) = pod_spec(emulator)["containers"]
    assert container["image"] == "kontaxa/aws-emulator:dev"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert "command" not in container  # the image's CMD, as the container tier runs it
    localstack = yaml.safe_load((K8S_ROOT / "platform/values/localstack/local.yaml").read_text())
    assert localstack["image"] == {
        "repository": "localstack/localstack",
        "tag": "4.14",
        "pullPolicy": "IfNotPresent",
    }


def test_localstack_in_kind_starts_what_the_host_runtime_starts_and_holds_no_role() -> None:
    """The same Terraform applies to both, so the same services (the host's list is what the
    tests apply it to); localstack/helm-charts localstack-0.7.0 turns `startServices` into
    SERVICES, and creates a Role with every verb on pods, services and deployments and
    pods/exec unless `role.create` is false (values.yaml: "Necessary for kubernetes lambda
    executor"); no Lambda runs here."""
    from kontaxa_local.emulator import LOCALSTACK_SERVICES

    localstack = yaml.safe_load((K8S_ROOT / "platform/values/localstack/local.yaml").read_text())
    in_kind = localstack["startServices"].split(",")
    assert sorted(in_kind) == sorted(LOCALSTACK_SERVICES.split(","))
    assert localstack["role"] == {"create": False}
    assert "lambda" not in localstack


# --- the two overlays are the same manifests ---------------------------------------

# What the eks and local overlays may set differently: (kind, name or "*", path).
# A path is a tuple of keys; "*" matches any list index or map key.
ALLOWED_DIFFERENCES: list[tuple[str, str, tuple[Any, ...]]] = [
    # images: locally built (kind) or ECR by immutable tag (eks)
    ("Deployment", "*", ("spec", "template", "spec", "containers", "*", "image")),
    # version metadata: set with the image tag at promotion
    ("ConfigMap", "*", ("data", "APP_VERSION")),
    ("ConfigMap", "*", ("data", "GIT_SHA")),
    ("ConfigMap", "*", ("data", "BUILD_TIME")),
    # interactive docs and the schema: on locally only (test_api_docs_are_off_on_eks)
    ("ConfigMap", "*", ("data", "API_DOCS")),
    # the in-cluster emulator and its static test credentials (local only; envFrom is
    # checked entry by entry in test_allowed_differences_are_the_expected_ones)
    ("ConfigMap", "aux-service-config", ("data", "AWS_ENDPOINT_URL")),
    # the previous service token's grace: at least one rotation poll interval, which is 30 s
    # locally and an hour on eks (test_argocd.py, test_the_previous_service_token_outlives...)
    ("ConfigMap", "main-api-config", ("data", "SERVICE_TOKEN_GRACE_SECONDS")),
    ("ConfigMap", "aux-service-config", ("data", "SERVICE_TOKEN_GRACE_SECONDS")),
    ("Deployment", "aux-service", ("spec", "template", "spec", "containers", "*", "envFrom")),
    ("Deployment", "aux-service", ("metadata", "annotations", "checkov.io/skip4")),
    ("Secret", "emulator-credentials", ()),
    # the ECR repository from Terraform's outputs (eks only), which the overlay writes into the
    # image (overlays/eks/terraform)
    ("Deployment", "*", ("metadata", "annotations", "kontaxa.io/image-repository")),
    # IRSA (eks only)
    ("ServiceAccount", "*", ("metadata", "annotations", "eks.amazonaws.com/role-arn")),
    # HPA bounds: one replica locally, production bounds on eks
    ("HorizontalPodAutoscaler", "*", ("spec", "minReplicas")),
    ("HorizontalPodAutoscaler", "*", ("spec", "maxReplicas")),
    # ingress: localhost without TLS, or the public host with TLS
    ("Ingress", "main-api", ("spec", "rules", "*", "host")),
    ("Ingress", "main-api", ("spec", "tls")),
    ("Ingress", "main-api", ("metadata", "annotations")),
]


def _drop(node: Any, path: tuple[Any, ...]) -> Any:
    """`node` without the values at `path` (removing emptied annotation maps too)."""
    if not path:
        return None
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head]
        for key in keys:
            if key not in node:
                continue
            if rest:
                node[key] = _drop(node[key], rest)
                if node[key] in ({}, None) and key == "annotations":
                    del node[key]
            else:
                del node[key]
    elif isinstance(node, list) and head == "*":
        for index, item in enumerate(node):
            node[index] = _drop(item, rest) if rest else None
    return node


def _normalized(env: str) -> dict[tuple[str, str], Any]:
    objects = {}
    # Generated ConfigMaps differ in name by their hash (their content is compared below).
    for obj in without_hash_suffixes(render(f"overlays/{env}")):
        key = (obj["kind"], obj["metadata"]["name"])
        normal: Any = copy.deepcopy(obj)
        for kind, name, path in ALLOWED_DIFFERENCES:
            if kind == obj["kind"] and name in ("*", obj["metadata"]["name"]):
                normal = _drop(normal, path)
        if normal is not None:
            objects[key] = normal
    return objects


def test_overlays_differ_only_in_the_allowed_fields() -> None:
    """overlays/local and overlays/eks are the same manifests but for the list above."""
    local, eks = _normalized("local"), _normalized("eks")
    assert set(local) == set(eks), set(local) ^ set(eks)
    for key in sorted(local):
        assert local[key] == eks[key], f"{key} differs outside the allowed fields"


def test_allowed_differences_are_the_expected_ones() -> None:
    """Where the overlays differ, they differ as intended (and envFrom only by the credentials)."""
    # Generated ConfigMap names differ by their content's hash; compare them unhashed.
    local = without_hash_suffixes(render("overlays/local"))
    eks = without_hash_suffixes(render("overlays/eks"))
    for service in SERVICES:
        local_env = pod_spec(one(local, "Deployment", service))["containers"][0]["envFrom"]
        eks_env = pod_spec(one(eks, "Deployment", service))["containers"][0]["envFrom"]
        extra = [e for e in local_env if e not in eks_env]
        credentials = [{"secretRef": {"name": "emulator-credentials"}}]
        assert extra == (credentials if service == "aux-service" else [])
        assert all(e in local_env for e in eks_env)
        assert one(local, "SecretProviderClass", f"{service}-secrets") == one(
            eks, "SecretProviderClass", f"{service}-secrets"
        )
        assert "AWS_ENDPOINT_URL" not in one(eks, "ConfigMap", f"{service}-config")["data"]
        role = one(eks, "ServiceAccount", service)["metadata"]["annotations"][
            "eks.amazonaws.com/role-arn"
        ]
        assert re.fullmatch(rf"arn:aws:iam::\d{{12}}:role/kontaxa-{service}", role)
        assert "annotations" not in one(local, "ServiceAccount", service)["metadata"]
    assert one(local, "Secret", "emulator-credentials")
    assert not find(eks, "Secret")
    assert one(local, "Ingress", "main-api")["spec"]["rules"][0]["host"] == "localhost"
    assert "tls" not in one(local, "Ingress", "main-api")["spec"]
    assert one(eks, "Ingress", "main-api")["spec"]["tls"][0]["secretName"]


def test_the_equivalence_check_can_fail() -> None:
    """A difference outside the list is caught (the normalization hides nothing else)."""
    local = _normalized("local")
    changed = copy.deepcopy(local)
    pod = changed[("Deployment", "main-api")]["spec"]["template"]["spec"]
    pod["containers"][0]["readinessProbe"]["periodSeconds"] += 1
    assert changed != local


@pytest.mark.parametrize("service", SERVICES)
def test_image_tags_and_version_values(service: str) -> None:
    """kind runs the local `dev` build; eks runs ECR by git SHA and digest, with GIT_SHA matching
    the tag."""
    local_image = pod_spec(one(render("overlays/local"), "Deployment", service))["containers"][0]
    assert local_image["image"] == f"kontaxa/{service}:dev"
    assert local_image["imagePullPolicy"] == "IfNotPresent"
    eks = render("overlays/eks")
    image = pod_spec(one(eks, "Deployment", service))["containers"][0]["image"]
    # Pulled by digest (scripts/ci/promote.py pins the tested image's); the tag names the commit.
    match = re.fullmatch(
        rf"\d{{12}}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/kontaxa/{service}"
        r":(?P<sha>[0-9a-f]{40})@sha256:[0-9a-f]{64}",
        image,
    )
    assert match, image
    assert generated(eks, "ConfigMap", f"{service}-config")["data"]["GIT_SHA"] == match["sha"]


def test_kind_runs_only_images_built_and_loaded_by_the_runner() -> None:
    """Every image the local tree and the git server name is one the kind runtime builds and
    loads (`kind load docker-image`): nothing of ours is pulled. Helm charts' own images and
    LocalStack's (a pinned upstream tag: it cannot be built offline) come from the charts."""
    from kontaxa_local.kind_runtime import IMAGES
    from kontaxa_local.settings import IMAGE_TAG

    loaded = {f"{image}:{IMAGE_TAG}" for image in IMAGES}
    seen = set()
    directories = [d for d in rendered_dirs() if environment_of(d) == "local"]
    objects = [o for d in directories for o in render(d)]
    git_server = REPO_ROOT / "local/kind/git-server/deployment.yaml"
    objects.append(yaml.safe_load(git_server.read_text()))
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        spec = pod_spec(obj)
        for container in spec.get("initContainers", []) + spec["containers"]:
            assert container["image"] in loaded, f"{obj['metadata']['name']}: {container['image']}"
            assert container.get("imagePullPolicy") == "IfNotPresent", obj["metadata"]["name"]
            seen.add(container["image"])
    assert seen == loaded, f"built and loaded but never run: {loaded - seen}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_config_map_is_generated_and_rolls_out_with_its_content(
    env: str, service: str, tmp_path: Path
) -> None:
    """The settings ConfigMap is named after a hash of its content, and the Deployment names
    that ConfigMap: a change (a promotion's GIT_SHA) is a new ConfigMap and a new pod template,
    so a restarted pod of an older ReplicaSet keeps the values it was started with."""
    objects = render(f"overlays/{env}/{service}")
    config = generated(objects, "ConfigMap", f"{service}-config")
    container = pod_spec(one(objects, "Deployment", service))["containers"][0]
    assert {"configMapRef": {"name": config["metadata"]["name"]}} in container["envFrom"]

    # The same overlay with another GIT_SHA, rendered by kustomize: a new name.
    shutil.copytree(K8S_ROOT / "apps", tmp_path / "apps")
    shutil.copytree(K8S_ROOT / "overlays", tmp_path / "overlays")
    env_file = tmp_path / "apps" / service / "config.env"
    env_file.write_text(env_file.read_text() + "GIT_SHA_PROBE=changed\n")
    version = tmp_path / "overlays" / env / service / "version.yaml"
    if version.exists():
        version.write_text(version.read_text().replace("GIT_SHA: ", "GIT_SHA: 0"))
    result = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path / "overlays" / env / service)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    changed = tuple(d for d in yaml.safe_load_all(result.stdout) if d)
    renamed = generated(changed, "ConfigMap", f"{service}-config")["metadata"]["name"]
    assert renamed != config["metadata"]["name"]
    changed_container = pod_spec(one(changed, "Deployment", service))["containers"][0]
    assert {"configMapRef": {"name": renamed}} in changed_container["envFrom"]
