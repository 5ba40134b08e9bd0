"""The `kind` target: the stack that `task local-up` (kind runtime) brought up.

main-api is reached through the ingress on localhost:8080, as a user reaches it;
aux-service and the emulator through `kubectl port-forward`. The pods' secret
files are read with `kubectl exec` (digests only). Components are stopped by
scaling their Deployment to zero; the emulator is not stopped (Argo CD owns its
replica count and would fight the test).
"""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
from pytest_kind import KindCluster  # type: ignore[import-untyped]

from kontaxa_e2e.forward import PortForward
from kontaxa_e2e.servers import eventually
from kontaxa_e2e.targets import Target
from kontaxa_local.settings import REPO_ROOT, Settings

NAMESPACE = "kontaxa"
INGRESS_URL = "http://localhost:8080"
# Run inside a pod: the digest of each visible secret file, never the value.
_DIGESTS = (
    "import hashlib,json,pathlib;"
    "d=pathlib.Path('/mnt/secrets');"
    "print(json.dumps({p.name: hashlib.sha256(p.read_bytes().strip()).hexdigest() "
    "for p in sorted(d.iterdir()) if not p.name.startswith('.') and p.is_file()}))"
)


def attach_cluster(name: str, workdir: Path) -> KindCluster:
    """pytest-kind's handle on the cluster `task local-up` created (never created here).

    KindCluster.create() would create a missing cluster, and its session fixture deletes it
    afterwards; the runner is the one place that creates the cluster, so the handle is built
    from the existing cluster's name and kubeconfig, with the kind and kubectl on PATH (given
    as paths, pytest-kind downloads nothing).
    """
    kind, kubectl_bin = shutil.which("kind"), shutil.which("kubectl")
    if kind is None or kubectl_bin is None:
        raise RuntimeError("the kind target needs kind and kubectl on PATH")
    clusters = subprocess.run(
        [kind, "get", "clusters"], capture_output=True, text=True, check=False, timeout=60
    ).stdout.split()
    if name not in clusters:
        raise RuntimeError(
            f"no kind cluster {name!r} (found {clusters or 'none'}): "
            "run LOCAL_RUNTIME=kind ./task local-up first"
        )
    kubeconfig = workdir / "kubeconfig"
    workdir.mkdir(parents=True, exist_ok=True)
    kubeconfig.touch(mode=0o600)
    kubeconfig.write_text(
        subprocess.run(
            [kind, "get", "kubeconfig", "--name", name],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    return KindCluster(name, kubeconfig, kind_path=Path(kind), kubectl_path=Path(kubectl_bin))


_CLUSTER: list[KindCluster] = []  # the attached cluster, for kubectl() below


def kubectl(*args: str, timeout: float = 60) -> str:
    """kubectl against the attached kind cluster (pytest-kind); raise with its output."""
    if not _CLUSTER:
        raise RuntimeError("no kind cluster attached: the kind target is not set up")
    try:
        output: str = _CLUSTER[0].kubectl(*args, timeout=timeout, stderr=subprocess.PIPE)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"kubectl {' '.join(args)}: {(exc.stderr or '').strip()}") from exc
    return output


class KindTarget(Target):
    """A kind cluster run by Argo CD; components stopped by scaling their Deployment."""

    name = "kind"

    def __init__(self, workdir: Path) -> None:
        # The runner's settings name the cluster (KIND_CLUSTER_NAME).
        self.cluster = attach_cluster(Settings.from_env().kind_cluster, workdir)
        _CLUSTER[:] = [self.cluster]
        self._forwards: list[PortForward] = []
        self.main_url = INGRESS_URL
        self.aux_url = self._forward(NAMESPACE, "service/aux-service", 8080)
        # The metrics port is on no Service (only Prometheus may reach it): the pod's own.
        self.aux_metrics_url = self._forward(NAMESPACE, "deployment/aux-service", 9090)
        self.emulator_url = self._forward("aws-emulator", "service/aws-emulator", 4566)
        self.source_revision = self._synced_snapshot()
        self._workdir = workdir

    def _synced_snapshot(self) -> str:
        """The working-tree snapshot whose version commit Argo CD synced for main-api: the
        commit the kind runtime's ConfigMaps must name (the synced commit's parent)."""
        for app in self.applications():
            if app["metadata"]["name"] == "main-api":
                sync = app.get("status", {}).get("sync", {})
                synced = sync.get("revision") or next(iter(sync.get("revisions") or []), "")
                return subprocess.run(
                    ["git", "-C", str(REPO_ROOT), "rev-parse", "--verify", f"{synced}^"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
        raise RuntimeError("Argo CD has no main-api Application: is the kind stack up?")

    def snapshot_mismatch(self) -> str | None:
        """Why the snapshot Argo CD synced is not this checkout as it is now, or None: the
        check of `source_revision` against the checkout instead of the cluster's word."""
        from kontaxa_local.kind_runtime import snapshot_mismatch

        assert self.source_revision is not None
        return snapshot_mismatch(self.source_revision, self._workdir / "check.index")

    def _forward(self, namespace: str, resource: str, port: int) -> str:
        """A port-forward to `resource` (service/x, deployment/x) that follows it to its new
        pod after a scale or restart."""
        forward = PortForward(
            lambda local: [
                str(self.cluster.kubectl_path),
                "--kubeconfig",
                str(self.cluster.kubeconfig_path),
                "-n",
                namespace,
                "port-forward",
                resource,
                f"{local}:{port}",
                "--address",
                "127.0.0.1",
            ],
            resource,
        )
        self._forwards.append(forward.start(timeout=30))
        return forward.url

    def mounted_digests(self, service: str) -> dict[str, str]:
        """Digests of the files the pod reads, computed inside the pod."""
        output = kubectl(
            "-n", NAMESPACE, "exec", f"deployment/{service}", "--", "python", "-c", _DIGESTS
        )
        digests: dict[str, str] = json.loads(output)
        return digests

    def config_values(self, service: str) -> dict[str, str]:
        """The ConfigMaps the live Deployment's container reads (envFrom), merged in order:
        found through the Deployment, since generated ConfigMaps carry a content hash."""
        deployment = json.loads(
            kubectl("-n", NAMESPACE, "get", f"deployment/{service}", "-o", "json")
        )
        (container,) = [
            c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == service
        ]
        data: dict[str, str] = {}
        for source in container.get("envFrom", []):
            name = source.get("configMapRef", {}).get("name")
            if name:
                config = json.loads(
                    kubectl("-n", NAMESPACE, "get", "configmap", name, "-o", "json")
                )
                data.update(config.get("data") or {})
        return data

    def can_stop(self, component: str) -> bool:
        """Services yes (scale to zero); the emulator no (Argo CD would scale it back)."""
        return component in {"main-api", "aux-service"}

    def stop(self, component: str) -> None:
        """Scale the Deployment to zero and wait until no pod is left."""
        if not self.can_stop(component):
            raise NotImplementedError(f"the kind target does not stop {component}")
        kubectl("-n", NAMESPACE, "scale", f"deployment/{component}", "--replicas=0")
        kubectl(
            "-n",
            NAMESPACE,
            "wait",
            "--for=delete",
            "pod",
            "-l",
            f"app.kubernetes.io/name={component}",
            "--timeout=120s",
            timeout=150,
        )

    def start(self, component: str) -> None:
        """Scale back to one replica and wait until it is available."""
        kubectl("-n", NAMESPACE, "scale", f"deployment/{component}", "--replicas=1")
        kubectl(
            "-n",
            NAMESPACE,
            "rollout",
            "status",
            f"deployment/{component}",
            "--timeout=180s",
            timeout=200,
        )
        if component == "aux-service":  # its forward follows the new pod: wait until it does
            url = f"{self.aux_url}/health"
            if not eventually(lambda: _answers(url), timeout=60, interval=0.5):
                raise RuntimeError(f"the port-forward to aux-service did not recover: {url}")

    def remount_secrets(self) -> None:
        """The CSI driver re-mounts on its rotation interval: wait until the files follow."""
        from kontaxa_e2e.targets import API_KEYS_SECRET, digest

        expected = digest(json.loads(self.secret(API_KEYS_SECRET))["primary"])
        if not eventually(
            lambda: self.mounted_digests("main-api").get("api-key-primary") == expected,
            timeout=180,
            interval=5,
        ):
            raise TimeoutError("the CSI driver did not rotate main-api's secrets in 180 s")

    def applications(self) -> list[dict[str, Any]]:
        """Argo CD's Applications as objects."""
        items: list[dict[str, Any]] = json.loads(
            kubectl("-n", "argocd", "get", "applications.argoproj.io", "-o", "json")
        )["items"]
        return items

    def close(self) -> None:
        """Stop the port-forwards."""
        for forward in self._forwards:
            forward.close()
        _CLUSTER.clear()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code < 500
    except httpx.TransportError:
        return False
