"""Every knob of the runner: an environment variable with a default, all listed here.

| variable | default | meaning |
|---|---|---|
| LOCAL_RUNTIME | auto | `process`, `kind`, or `auto` (kind if Docker answers and kind exists) |
| LOCAL_EMULATOR | moto | `moto` or `localstack` |
| LOCAL_STATE_DIR | .local | where state, logs, pod directories and Terraform state live |
| LOCAL_PORTS | main-api=8080,aux-service=8081,... | host ports (metrics too); 0: a free one |
| LOCAL_READY_TIMEOUT | 120 | seconds each component gets to become ready |
| LOCAL_MONITORING | 1 | 0: no Prometheus, Alertmanager or alert sink (process runtime) |
| LOCAL_MONITORING_INTERVAL | 5s | local scrape and rule evaluation interval ("": the cluster's) |
| LOCAL_RELOAD | 0 | 1: services restart on code changes (`task dev`) |
| LOCAL_PYTHON313 | (found with pyenv) | Python 3.13 interpreter for LocalStack on the host |
| LOCALSTACK_AUTH_TOKEN | (unset) | for LocalStack (host env, kind Secret); newer tags need it |
| KIND_CLUSTER_NAME | kontaxa | kind cluster name |
| KIND_NODE_IMAGE | kindest/node:v1.33.1@sha256:0500722... (kind v0.29.0) | pinned node image |
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
OVERLAY = REPO_ROOT / "infra/k8s/overlays/local"
TERRAFORM_ROOT = REPO_ROOT / "infra/terraform/environments/local"
TERRAFORM_CLI_CONFIG = REPO_ROOT / "infra/terraform/cli-config.tfrc"
TERRAFORM_MIRROR = Path("/opt/tf-plugins")
KIND_CONFIG = REPO_ROOT / "local/kind/cluster.yaml"
GIT_SERVER_DIR = REPO_ROOT / "local/kind/git-server"
# Argo CD's version is pinned in its install kustomization, nowhere else.
ARGOCD_INSTALL = REPO_ROOT / "infra/k8s/argocd/install"
ARGOCD_BOOTSTRAP = REPO_ROOT / "infra/k8s/argocd/bootstrap/local"

REGION = "us-east-1"
# The emulator accepts any credentials; this pair is valid nowhere else.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
DEFAULT_PORTS = (
    "main-api=8080,aux-service=8081,main-api-metrics=19100,aux-service-metrics=19101,"
    "emulator=4566,prometheus=19090,alertmanager=19093"
)
DEFAULT_MONITORING_INTERVAL = "5s"
KIND_NODE_IMAGE = (
    "kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f"
)
MAIN_SERVICE = "main-api"
API_KEY_FILE = "api-key-primary"
# The tag the local overlay names (kustomize images: newTag in infra/k8s/overlays/local).
IMAGE_TAG = "dev"


def _ports(spec: str) -> dict[str, int]:
    ports: dict[str, int] = {}
    for item in spec.split(","):
        name, _, value = item.partition("=")
        if not name.strip() or not value.strip().isdigit():
            raise ValueError(f"LOCAL_PORTS: expected name=port pairs, got {item!r}")
        ports[name.strip()] = int(value)
    return ports


def _interval(value: str) -> str:
    if value and not re.fullmatch(r"[1-9][0-9]*(ms|s|m)", value):
        raise ValueError(
            f"LOCAL_MONITORING_INTERVAL: expected a duration such as 5s or 1m, got {value!r}"
        )
    return value


@dataclass(frozen=True)
class Settings:
    """The runner's configuration, read once from the environment."""

    runtime: str = "auto"
    emulator: str = "moto"
    state_dir: Path = REPO_ROOT / ".local"
    ports: dict[str, int] = field(default_factory=lambda: _ports(DEFAULT_PORTS))
    ready_timeout: float = 120.0
    reload: bool = False
    monitoring: bool = True
    monitoring_interval: str = DEFAULT_MONITORING_INTERVAL
    python313: str | None = None
    localstack_auth_token: str | None = None
    kind_cluster: str = "kontaxa"
    kind_node_image: str = KIND_NODE_IMAGE

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        """Settings from `environ` (the process environment by default)."""
        env = dict(os.environ if environ is None else environ)
        runtime = env.get("LOCAL_RUNTIME", "auto")
        emulator = env.get("LOCAL_EMULATOR", "moto")
        if runtime not in {"auto", "process", "kind"}:
            raise ValueError(f"LOCAL_RUNTIME must be auto, process or kind, not {runtime!r}")
        if emulator not in {"moto", "localstack"}:
            raise ValueError(f"LOCAL_EMULATOR must be moto or localstack, not {emulator!r}")
        state_dir = Path(env.get("LOCAL_STATE_DIR", str(REPO_ROOT / ".local")))
        return cls(
            runtime=runtime,
            emulator=emulator,
            state_dir=state_dir if state_dir.is_absolute() else REPO_ROOT / state_dir,
            ports=_ports(env.get("LOCAL_PORTS", DEFAULT_PORTS)),
            ready_timeout=float(env.get("LOCAL_READY_TIMEOUT", "120")),
            reload=env.get("LOCAL_RELOAD", "0") in {"1", "true", "yes"},
            monitoring=env.get("LOCAL_MONITORING", "1") in {"1", "true", "yes"},
            monitoring_interval=_interval(
                env.get("LOCAL_MONITORING_INTERVAL", DEFAULT_MONITORING_INTERVAL)
            ),
            python313=env.get("LOCAL_PYTHON313") or None,
            localstack_auth_token=env.get("LOCALSTACK_AUTH_TOKEN") or None,
            kind_cluster=env.get("KIND_CLUSTER_NAME", "kontaxa"),
            kind_node_image=env.get("KIND_NODE_IMAGE", KIND_NODE_IMAGE),
        )

    def port(self, component: str) -> int:
        """The configured host port of `component` (0: pick a free one)."""
        return self.ports.get(component, 0)
