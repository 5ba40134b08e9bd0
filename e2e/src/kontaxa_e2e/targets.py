"""Where the e2e suite runs: one set of assertions, several targets.

- `process`: the runner's process runtime, brought up by the suite in a temp dir;
- `containers`: the same, each service in a container (needs a Docker engine);
- `kind`: a kind cluster that `task local-up` (kind runtime) brought up;
- `url`: any running stack, given its URLs (fault tests skip: nothing to stop).
"""

import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kontaxa_e2e.emulator import aws_client
from kontaxa_e2e.inprocess import PREFIX
from kontaxa_local.version import working_tree_revision

SERVICE_TOKEN_SECRET = "kontaxa/service-token"
PARAMETER_PREFIX = PREFIX  # one definition: the one the services' tests seed under
API_KEYS_SECRET = "kontaxa/api-keys"
SERVICES = ("main-api", "aux-service")


def digest(value: str | bytes) -> str:
    """SHA-256 of a secret value: compared, never printed."""
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data.strip()).hexdigest()


class Target(ABC):
    """A running Kontaxa stack the suite can observe and, where possible, disturb."""

    name: str
    main_url: str
    aux_url: str
    emulator_url: str
    # aux-service's metrics listener (its own port, no Service exposes it); None where the
    # suite cannot reach it (a stack given by URL without --aux-metrics-url).
    aux_metrics_url: str | None = None
    can_disturb = True
    can_read_mounts = True
    # The local Prometheus, Alertmanager and alert sink, where the target runs them.
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    alert_sink_url: str | None = None
    monitoring_dir: Path | None = None
    # The commit the stack was built or brought up from (what `git_sha` must say); None
    # where the suite cannot know it (a stack given by URL without --expected-git-sha).
    source_revision: str | None = None
    # Epoch seconds when the bring-up started and when it was ready, where the target's
    # BUILD_TIME is the bring-up's (the process runtime); None elsewhere.
    brought_up: tuple[float, float] | None = None
    # How often the suite brought the stack up anew (a test left it broken), and why it could
    # not, when it could not: what was measured on an earlier stack is not this one's.
    generation = 0
    lost: str | None = None

    def aws(self, service: str) -> Any:
        """A boto3 client for the emulator behind the stack."""
        return aws_client(service, self.emulator_url)

    def secret(self, name: str) -> str:
        """A Secrets Manager value, as the emulator holds it now."""
        value: str = self.aws("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
        return value

    def api_key(self) -> str:
        """The current primary API key (from Secrets Manager, the source of truth)."""
        key: str = json.loads(self.secret(API_KEYS_SECRET))["primary"]
        return key

    def service_token(self) -> str:
        """The current service token."""
        return self.secret(SERVICE_TOKEN_SECRET)

    @abstractmethod
    def mounted_digests(self, service: str) -> dict[str, str]:
        """Digest of each secret file the service's pod reads, by file name."""

    def expected_mounts(self, service: str) -> dict[str, str]:
        """Digest of each secret file the service's pod must read: the emulator's values now
        (aux-service gets the service token alone: least privilege)."""
        token = digest(self.service_token())
        if service == "aux-service":
            return {"service-token": token}
        document = self.secret(API_KEYS_SECRET)
        keys = json.loads(document)
        return {
            "service-token": token,
            "api-key-primary": digest(keys["primary"]),
            "api-key-secondary": digest(keys["secondary"]),
            "api-keys": digest(document),
        }

    def broken(self) -> str | None:
        """What is wrong with the stack after a test; None when whole or when the target
        cannot tell (only targets the suite brought up can)."""
        return None

    def rebuild(self) -> None:
        """Bring the stack up anew (where the suite brought it up)."""
        raise NotImplementedError(f"the {self.name} target cannot be brought up anew")

    @abstractmethod
    def config_values(self, service: str) -> dict[str, str]:
        """The service's ConfigMap data as deployed."""

    def can_stop(self, component: str) -> bool:
        """Whether `stop(component)` is possible on this target."""
        return self.can_disturb

    def stop(self, component: str) -> None:
        """Stop `main-api`, `aux-service` or `emulator`."""
        raise NotImplementedError(f"the {self.name} target cannot stop components")

    def start(self, component: str) -> None:
        """Start a stopped component and wait until it is ready (the emulator is restored)."""
        raise NotImplementedError(f"the {self.name} target cannot start components")

    def remount_secrets(self) -> None:
        """Make the pods' secret files catch up with the emulator (CSI rotation)."""
        raise NotImplementedError(f"the {self.name} target cannot remount secrets")

    def close(self) -> None:  # noqa: B027 - most targets have nothing to tear down
        """Tear down what the target started."""


def workload_env(objects: list[dict[str, Any]], service: str) -> dict[str, str]:
    """The env the manifests give `service`'s container (its ConfigMap through envFrom,
    whatever the ConfigMap's name)."""
    from kontaxa_local import manifests

    for workload in manifests.workloads(objects):
        if workload.name == service:
            return workload.env
    raise KeyError(f"no Deployment {service} in the rendered overlay")


def read_digests(directory: Path) -> dict[str, str]:
    """Digests of the visible files of a secrets directory."""
    return {
        path.name: digest(path.read_bytes())
        for path in sorted(directory.iterdir())
        if not path.name.startswith(".") and path.is_file()
    }


class ProcessTarget(Target):
    """The process runtime, brought up in a private state directory on free ports."""

    name = "process"
    with_monitoring = True

    def __init__(
        self,
        state_dir: Path,
        runtime_factory: Callable[..., Any] | None = None,
        with_monitoring: bool | None = None,
    ) -> None:
        from kontaxa_local.executor import Executor
        from kontaxa_local.process_runtime import ProcessRuntime
        from kontaxa_local.settings import Settings

        settings = Settings(
            runtime="process",
            state_dir=state_dir,
            ports={
                "main-api": 0,
                "aux-service": 0,
                "emulator": 0,
                "prometheus": 0,
                "alertmanager": 0,
            },
            ready_timeout=120,
            monitoring=self.with_monitoring if with_monitoring is None else with_monitoring,
        )
        self.runtime = (runtime_factory or ProcessRuntime)(settings, Executor())
        self.state_dir = state_dir
        if self.source_revision is None:  # the containers target sets its images' commit
            self.source_revision = working_tree_revision()
        self._bring_up()

    def _bring_up(self) -> None:
        """local-up, then learn where each part listens."""
        started = time.time()
        self.runtime.up()  # retries once itself when the emulator met a retried create
        if self.runtime.name == "process":  # images carry their own BUILD_TIME
            self.brought_up = (started, time.time())
        from kontaxa_local.state import State

        state = State.load(self.state_dir)
        assert state is not None
        self.main_url = state.components["main-api"].url
        self.aux_url = state.components["aux-service"].url
        self.aux_metrics_url = state.components["aux-service"].metrics_url or None
        self.emulator_url = state.emulator_url
        urls = {name: component.url for name, component in state.components.items()}
        self.prometheus_url = urls.get("prometheus")
        self.alertmanager_url = urls.get("alertmanager")
        self.alert_sink_url = urls.get("alert-sink")
        self.monitoring_dir = self.state_dir / "monitoring" if self.prometheus_url else None

    def broken(self) -> str | None:
        """What is wrong with the stack: a component down or not ready, or a pod's secret
        file other than the emulator's value; None when whole."""
        from kontaxa_local.state import State

        state = State.load(self.state_dir)
        if state is None:
            return "it is not up"
        down = [row.component for row in self.runtime.status() if row.state != "ready"]
        if down:
            return "not ready: " + ", ".join(down)
        stale = []
        try:
            for service in SERVICES:
                mounted = self.mounted_digests(service)
                expected = self.expected_mounts(service)
                # Every expected file, then any the pod should not have.
                names = [*expected, *sorted(mounted.keys() - expected.keys())]
                stale += [
                    f"{service} {name}" for name in names if mounted.get(name) != expected.get(name)
                ]
        except Exception as exc:
            return f"its secrets cannot be compared ({type(exc).__name__}: {exc})"
        return "mounted secrets other than the emulator's: " + ", ".join(stale) if stale else None

    def rebuild(self) -> None:
        """local-down, then local-up anew."""
        self.generation += 1
        self.runtime.down()
        self._bring_up()

    def mounted_digests(self, service: str) -> dict[str, str]:
        """Digests of the files the runner mounted for `service`."""
        return read_digests(self.runtime.host_path(service, "/mnt/secrets"))

    def config_values(self, service: str) -> dict[str, str]:
        """The env the runner gave `service`'s process: its ConfigMap as this stack has it."""
        from kontaxa_local.state import State

        state = State.load(self.state_dir)
        assert state is not None, "the stack is not up"
        return workload_env(self.runtime.rendered(state), service)

    def stop(self, component: str) -> None:
        """Stop one process."""
        self.runtime.stop_component(component)

    def start(self, component: str) -> None:
        """Start it again; an emulator comes back empty, so Terraform and secrets are redone."""
        self.runtime.start_component(component)
        if component == "emulator":
            self.runtime.restore_emulator()

    def remount_secrets(self) -> None:
        """Run the secrets-provider library again for every pod."""
        self.runtime.remount_secrets()

    def close(self) -> None:
        """local-down."""
        self.runtime.down()


class UrlTarget(Target):
    """An already running stack, known by its URLs; nothing can be disturbed."""

    name = "url"
    can_disturb = False
    can_read_mounts = False

    def __init__(
        self,
        main_url: str,
        aux_url: str,
        emulator_url: str,
        aux_metrics_url: str | None = None,
        source_revision: str | None = None,
    ) -> None:
        self.main_url, self.aux_url, self.emulator_url = main_url, aux_url, emulator_url
        self.aux_metrics_url = aux_metrics_url
        self.source_revision = source_revision

    def mounted_digests(self, service: str) -> dict[str, str]:
        """Not observable from outside."""
        raise NotImplementedError("the url target cannot read the pods' files")

    def config_values(self, service: str) -> dict[str, str]:
        """Taken from the rendered local overlay (assumes the stack runs it)."""
        from kontaxa_local import manifests
        from kontaxa_local.settings import OVERLAY

        return workload_env(manifests.load(manifests.render(OVERLAY)), service)
