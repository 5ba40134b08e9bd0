"""The rendered local overlay, read as a kubelet would read it for the process runtime.

A wrong env name, port, probe path or secret file name in the manifests
therefore fails here, not only in a cluster.
"""

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kontaxa_local.errors import StepFailed
from kontaxa_local.executor import run_command

Object = dict[str, Any]
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def pod_name(deployment: str) -> str:
    """The name the process runtime gives a Deployment's one pod (env fieldRef, scrape labels)."""
    return f"{deployment}-local"


def render(overlay: Path) -> str:
    """`kubectl kustomize` of `overlay` (read-only, so it runs even in dry-run mode)."""
    return run_command("render manifests", ["kubectl", "kustomize", str(overlay)])


def load(text: str) -> list[Object]:
    """Every object of a multi-document YAML stream."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


@dataclass
class Mount:
    """A container volume mount and what backs it."""

    path: str
    volume: str
    kind: str  # "csi-secrets", "emptyDir", "configMap", "secret"
    source: Object = field(default_factory=dict)


@dataclass
class Workload:
    """One Deployment's (first) container, as the process runtime runs it."""

    name: str
    namespace: str
    labels: dict[str, str]
    container: str
    image: str
    command: list[str]
    env: dict[str, str]
    ports: dict[str, int]  # port name (or str(number)) -> containerPort
    readiness_path: str
    readiness_port: int
    mounts: list[Mount]

    @property
    def container_port(self) -> int:
        """The port the service listens on (its first containerPort)."""
        return next(iter(self.ports.values()))


def _by_kind(objects: list[Object], kind: str) -> dict[tuple[str, str], Object]:
    return {
        (o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for o in objects
        if o.get("kind") == kind
    }


def _lookup(
    objects: dict[tuple[str, str], Object], namespace: str, name: str, what: str, workload: str
) -> Object:
    found = objects.get((namespace, name)) or objects.get(("", name))
    if found is None:
        raise StepFailed(
            f"read manifests of {workload}",
            f"{what} {namespace}/{name} is referenced but not in the rendered overlay",
        )
    return found


def _secret_data(secret: Object) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


def _resolve_env(
    container: Object, namespace: str, name: str, objects: list[Object]
) -> dict[str, str]:
    config_maps = _by_kind(objects, "ConfigMap")
    secrets = _by_kind(objects, "Secret")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref = _lookup(config_maps, namespace, source["configMapRef"]["name"], "ConfigMap", name)
            env.update({prefix + k: str(v) for k, v in (ref.get("data") or {}).items()})
        elif "secretRef" in source:
            ref = _lookup(secrets, namespace, source["secretRef"]["name"], "Secret", name)
            env.update({prefix + k: v for k, v in _secret_data(ref).items()})
    for item in container.get("env", []):
        if "value" in item:
            # Kubernetes expands $(VAR) from variables defined before this one.
            env[item["name"]] = _VAR_REF.sub(lambda m: env.get(m[1], m[0]), str(item["value"]))
            continue
        value_from = item.get("valueFrom", {})
        if "configMapKeyRef" in value_from:
            ref = value_from["configMapKeyRef"]
            data = _lookup(config_maps, namespace, ref["name"], "ConfigMap", name).get("data", {})
            env[item["name"]] = str(data[ref["key"]])
        elif "secretKeyRef" in value_from:
            ref = value_from["secretKeyRef"]
            secret = _lookup(secrets, namespace, ref["name"], "Secret", name)
            env[item["name"]] = _secret_data(secret)[ref["key"]]
        elif "fieldRef" in value_from:
            field_path = value_from["fieldRef"]["fieldPath"]
            env[item["name"]] = {
                "metadata.name": pod_name(name),
                "metadata.namespace": namespace,
                "status.podIP": "127.0.0.1",
            }.get(field_path, "")
    return env


def _probe_port(probe: Object, ports: dict[str, int], name: str) -> tuple[str, int]:
    http_get = probe.get("httpGet")
    if not http_get:
        raise StepFailed(f"read manifests of {name}", "the readiness probe is not an httpGet")
    port = http_get["port"]
    resolved = ports.get(str(port)) if isinstance(port, str) else int(port)
    if resolved is None:
        raise StepFailed(
            f"read manifests of {name}",
            f"the readiness probe names port {port!r}, which the container lacks",
        )
    return http_get.get("path", "/"), resolved


def workloads(objects: list[Object]) -> list[Workload]:
    """The Deployments of the rendered overlay, each resolved into a runnable Workload."""
    result = []
    for deployment in (o for o in objects if o.get("kind") == "Deployment"):
        name = deployment["metadata"]["name"]
        namespace = deployment["metadata"].get("namespace", "default")
        pod = deployment["spec"]["template"]
        container = pod["spec"]["containers"][0]
        ports = {}
        for port in container.get("ports", []):
            ports[port.get("name", str(port["containerPort"]))] = port["containerPort"]
        if not ports:
            raise StepFailed(f"read manifests of {name}", "the container declares no port")
        if "readinessProbe" not in container:
            raise StepFailed(f"read manifests of {name}", "the container has no readinessProbe")
        path, probe_port = _probe_port(container["readinessProbe"], ports, name)
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        mounts = []
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"])
            if volume is None:
                raise StepFailed(
                    f"read manifests of {name}",
                    f"volumeMount {mount['name']!r} names no volume of the pod",
                )
            mounts.append(Mount(mount["mountPath"], mount["name"], *_volume_kind(volume)))
        result.append(
            Workload(
                name=name,
                namespace=namespace,
                labels=pod["metadata"].get("labels", {}),
                container=container["name"],
                image=container.get("image", ""),
                command=list(container.get("command", [])) + list(container.get("args", [])),
                env=_resolve_env(container, namespace, name, objects),
                ports=ports,
                readiness_path=path,
                readiness_port=probe_port,
                mounts=mounts,
            )
        )
    return result


def _volume_kind(volume: Object) -> tuple[str, Object]:
    if "csi" in volume:
        return "csi-secrets", volume["csi"]
    for kind in ("emptyDir", "configMap", "secret"):
        if kind in volume:
            return kind, volume[kind] or {}
    raise StepFailed("read manifests", f"volume {volume['name']!r}: unsupported type for processes")


def secret_provider_parameters(objects: list[Object], namespace: str, name: str) -> dict[str, str]:
    """The `parameters` of a SecretProviderClass, as the CSI driver hands them to a provider."""
    classes = _by_kind(objects, "SecretProviderClass")
    spc = _lookup(classes, namespace, name, "SecretProviderClass", name)
    if spc["spec"].get("provider") != "aws":
        raise StepFailed("mount secrets", f"SecretProviderClass {name} is not for provider 'aws'")
    return {k: str(v) for k, v in spc["spec"].get("parameters", {}).items()}


def service_workloads(service: Object, all_workloads: list[Workload]) -> list[Workload]:
    """The workloads whose pods a Service selects (same namespace, every selector label)."""
    namespace = service["metadata"].get("namespace", "default")
    selector = service["spec"].get("selector") or {}
    return [
        w
        for w in all_workloads
        if w.namespace == namespace and selector and selector.items() <= w.labels.items()
    ]


def service_routes(
    objects: list[Object], local_ports: dict[str, int], all_workloads: list[Workload]
) -> dict[str, str]:
    """Cluster URLs of each Service (`http://svc:port`, FQDN forms too) -> local URL."""
    routes: dict[str, str] = {}
    for service in (o for o in objects if o.get("kind") == "Service"):
        name = service["metadata"]["name"]
        namespace = service["metadata"].get("namespace", "default")
        target = next(iter(service_workloads(service, all_workloads)), None)
        if target is None or target.name not in local_ports:
            continue
        for port in service["spec"].get("ports", []):
            hosts = (
                name,
                f"{name}.{namespace}",
                f"{name}.{namespace}.svc",
                f"{name}.{namespace}.svc.cluster.local",
            )
            for host in hosts:
                routes[f"http://{host}:{port['port']}"] = (
                    f"http://127.0.0.1:{local_ports[target.name]}"
                )
    return routes
