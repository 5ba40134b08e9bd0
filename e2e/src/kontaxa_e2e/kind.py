"""The `kind` target: the stack that `task local-up` (kind runtime) brought up.

main-api is reached through the ingress on localhost:8080, as a user reaches it;
aux-service and the emulator through `kubectl port-forward`. The pods' secret
files are read with `kubectl exec` (digests only). Components are stopped by
scaling their Deployment to zero; the emulator is not stopped (Argo CD owns its
replica count and would fight the test).
"""

import json
import subprocess
import time
from typing import Any

from kontaxa_e2e.servers import eventually, free_port
from kontaxa_e2e.targets import Target
from kontaxa_local.settings import REPO_ROOT

NAMESPACE = "kontaxa"
CONTEXT = "kind-kontaxa"
INGRESS_URL = "http://localhost:8080"
# Run inside a pod: the digest of each visible secret file, never the value.
_DIGESTS = (
    "import hashlib,json,pathlib;"
    "d=pathlib.Path('/mnt/secrets');"
    "print(json.dumps({p.name: hashlib.sha256(p.read_bytes().strip()).hexdigest() "
    "for p in sorted(d.iterdir()) if not p.name.startswith('.') and p.is_file()}))"
)


def kubectl(*args: str, timeout: float = 60) -> str:
    """Run kubectl against the kind cluster; raise with its output on failure."""
    result = subprocess.run(
        ["kubectl", "--context", CONTEXT, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


class KindTarget(Target):
    """A kind cluster run by Argo CD; components stopped by scaling their Deployment."""

    name = "kind"

    def __init__(self) -> None:
        self._forwards: list[subprocess.Popen[bytes]] = []
        self.main_url = INGRESS_URL
        self.aux_url = self._forward(NAMESPACE, "aux-service", 8080)
        self.emulator_url = self._forward("aws-emulator", "aws-emulator", 4566)
        self.source_revision = self._synced_snapshot()

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

    def _forward(self, namespace: str, service: str, port: int) -> str:
        local = free_port()
        process = subprocess.Popen(
            [
                "kubectl",
                "--context",
                CONTEXT,
                "-n",
                namespace,
                "port-forward",
                f"service/{service}",
                f"{local}:{port}",
                "--address",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._forwards.append(process)
        url = f"http://127.0.0.1:{local}"
        import socket

        def listening() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", local)) == 0

        if not eventually(listening, timeout=30):
            raise RuntimeError(f"kubectl port-forward to {service} did not start")
        return url

    def mounted_digests(self, service: str) -> dict[str, str]:
        """Digests of the files the pod reads, computed inside the pod."""
        output = kubectl(
            "-n", NAMESPACE, "exec", f"deployment/{service}", "--", "python", "-c", _DIGESTS
        )
        digests: dict[str, str] = json.loads(output)
        return digests

    def config_values(self, service: str) -> dict[str, str]:
        """The deployed ConfigMap."""
        data: dict[str, str] = json.loads(
            kubectl("-n", NAMESPACE, "get", "configmap", f"{service}-config", "-o", "json")
        )["data"]
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
        for process in self._forwards:
            process.terminate()
        deadline = time.monotonic() + 5
        for process in self._forwards:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
