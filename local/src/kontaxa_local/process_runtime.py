"""The process runtime: emulator, Terraform and each Deployment of the local overlay as processes.

The services run with the command, env, port, probes and secret files that the
rendered manifests define; only addresses are mapped to loopback.
"""

import errno
import http.client
import os
import shutil
import socket
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from kontaxa_local import console, emulator, manifests, monitoring, procs, terraform, version
from kontaxa_local.errors import StepFailed
from kontaxa_local.executor import Executor
from kontaxa_local.manifests import Workload
from kontaxa_local.settings import (
    API_KEY_FILE,
    MAIN_SERVICE,
    OVERLAY,
    REGION,
    REPO_ROOT,
    Settings,
)
from kontaxa_local.state import Component, State

CACHE_DIR = "cache"  # kept by local-down (the LocalStack venv); local-reset removes it too
# Container ports besides the first (PORT) that a service takes from an env variable: each gets
# a host port of its own (LOCAL_PORTS key `<workload>-<port name>`), since the services run
# side by side on one host where their pods would each have the manifest's number.
PORT_ENV = {"metrics": "METRICS_PORT"}
T = TypeVar("T")
RETRIED_CREATE = (
    "terraform apply: the emulator, started empty, already held what Terraform was creating "
    "(a create the AWS SDK sent again under load): once more from nothing"
)
SAME_CONFLICT = (
    "terraform apply failed the same way again, on an empty emulator: most likely a conflict "
    "in the configuration itself (two resources of one name), not a create sent twice"
)
RESENT_EACH_TIME = (
    "terraform apply met a create sent again on each empty emulator, a different one each "
    "time: the machine is too busy for the emulator to answer in time; try again when it is "
    "less loaded"
)
# Bring-ups from an empty emulator after a create the AWS SDK sent twice (each such failure
# names another resource; the same resource twice is the configuration's own conflict).
AGAIN_AT_MOST = 2


# Every port free_port has handed out in this process. A port is free when chosen but taken
# only when its server binds it, a second later for a service: a port chosen meanwhile (the
# next component's) could be the same one, and one of the two servers would fail to start.
_HANDED_OUT: set[int] = set()


# Reservations of the ports free_port handed out lately, held against every other process
# on this machine that uses free_port (Linux: an abstract Unix socket name per port, which
# the kernel frees when its holder closes it or exits). In a full test run the pytest workers
# and the processes they start pick ports at the same time: one worker's emulator once found
# its port taken by another worker's server, chosen in the same second, and a readiness
# probe answered by that server was taken for its own (CI). The last 256 are held, one file
# descriptor each: far more than a bring-up takes (about 10), so a server that lets its port
# go and binds it again (a restarted component, port-forward or fault proxy) keeps it
# reserved unless this process hands out 256 more meanwhile. An older port is guarded only by
# the random choice among some 20,000.
_RESERVED: deque[socket.socket] = deque()
_RESERVATIONS_HELD = 256
_RESERVING = threading.Lock()  # free_port may be called from several threads
_RESERVATION_NAME = "\0kontaxa-port-{}"  # the abstract Unix socket name reserving a port
_new_socket = socket.socket  # taken at import: tests script socket.socket for TCP binds


def _reserve(port: int) -> bool:
    """Reserve `port` for this process; False only when another process (or this one) holds
    it. Where no reservation can be made (no abstract names off Linux, or one refused, as a
    confined process may be), the port goes unreserved rather than refused."""
    if not sys.platform.startswith("linux"):
        return True
    try:
        holder = _new_socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return True
    try:
        holder.bind(_RESERVATION_NAME.format(port))
    except OSError as exc:
        holder.close()
        return exc.errno != errno.EADDRINUSE
    while len(_RESERVED) >= _RESERVATIONS_HELD:
        _RESERVED.popleft().close()
    _RESERVED.append(holder)
    return True


# Where free_port looks: below the kernel's ephemeral range, from which every outgoing
# connection takes its local port. A port the kernel hands out for bind(0) comes from that
# range, and in the second before its server binds it, a client socket can take it (seen:
# EADDRINUSE for a metrics listener during a full test run). Above the well-known ports and
# the usual development ones.
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000


def free_port() -> int:
    """A free TCP port on 127.0.0.1 below the ephemeral range (kernel-assigned if none is
    found there), never one this process handed out before, nor one another process that
    uses free_port handed out lately (`_reserve`)."""
    import random

    try:
        ephemeral = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768  # Linux's default
    span = range(_LOWEST, max(ephemeral, _LOWEST))
    pick = random.SystemRandom()  # not the module state, which tests may seed alike per process
    below = [pick.choice(span) for _ in range(100)] if span else []
    for candidate in [*below, *[0] * 100]:  # 0: the kernel picks, as the last resort
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
        with _RESERVING:
            if port not in _HANDED_OUT and _reserve(port):
                _HANDED_OUT.add(port)
                return port
    raise OSError("no free TCP port on 127.0.0.1")


def http_ok(url: str) -> bool:
    """Whether GET `url` answers 200 (as a kubelet httpGet probe)."""
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):  # refused, timed out, or a broken reply
        return False


@dataclass
class StatusRow:
    """One line of `local-status`."""

    component: str
    state: str
    url: str
    detail: str


class ProcessRuntime:
    """Brings the stack up and down as host processes; everything through the executor."""

    name = "process"

    def __init__(self, settings: Settings, executor: Executor) -> None:
        self.settings = settings
        self.executor = executor
        self.dir = settings.state_dir
        self.log_dir = self.dir / "logs"
        self._emulator_vars: dict[str, str] = {}
        # Seconds each step of the last `up` took, in order (printed, and read by task bench).
        self.step_seconds: dict[str, float] = {}

    # ---- up ----------------------------------------------------------------------------
    def up(self) -> State | None:
        """Bring everything up; a second call on a healthy stack changes nothing."""
        started = time.monotonic()
        self.step_seconds = {}
        existing = State.load(self.dir)
        if existing is not None and not self.executor.dry_run:
            if existing.reload != self.settings.reload:
                console.note(
                    "the stack runs with LOCAL_RELOAD="
                    f"{int(existing.reload)}: restarting it with {int(self.settings.reload)}"
                )
                self.down()
            elif self.healthy(existing):
                console.done("already up and healthy: nothing to do")
                self.print_summary(existing, None)
                return existing
            else:
                console.note("a previous stack is partly up: taking it down first")
                self.down()
        state = self._again_if_resent(self._bring_up, self._bring_up)
        if not self.executor.dry_run:
            self.print_summary(state, time.monotonic() - started)
        return state

    def _again_if_resent(self, attempt: Callable[[], T], again: Callable[[], T]) -> T:
        """`attempt`; when its apply met a create the AWS SDK sent twice (the emulator started
        empty already held it), `again`, from an empty emulator, up to AGAIN_AT_MOST times
        while each failure names resources none before it did. Any other failure is raised as
        it is; a failure on a resource that failed before (or on none named) is said to be a
        conflict of the configuration's own."""
        run, failed = attempt, None  # what the failures so far named (None: none failed yet)
        for agains_left in range(AGAIN_AT_MOST, -1, -1):
            try:
                return run()
            except StepFailed as failure:
                if self.executor.dry_run or not terraform.duplicated_by_a_retry(failure):
                    raise
                now = terraform.failed_resources(failure)
                if failed is not None and (not now or now & failed):  # an empty one had it
                    console.note(SAME_CONFLICT)
                    raise
                if not agains_left:
                    console.note(RESENT_EACH_TIME)
                    raise
                run, failed = again, (failed or frozenset()) | now
                console.note(RETRIED_CREATE)
        raise AssertionError("unreachable")  # pragma: no cover

    def _bring_up(self) -> State:
        """Emulator, Terraform, workloads, from nothing; on failure, stop what was started.

        Terraform starts as soon as the emulator is spawned, not once it is ready, and the
        overlay is rendered while Terraform applies: neither needs what the other makes
        (docs/performance.md, bring-up). Each step still prints its own seconds; the total
        is less than their sum.
        """
        self.step_seconds = {}
        now = time.time()
        state = State(
            runtime=self.name,
            emulator=self.settings.emulator,
            started_at=now,
            reload=self.settings.reload,
            git_sha=version.working_tree_revision(),
            build_time=version.rfc3339(now),
        )
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="render") as pool:
                rendering = pool.submit(self._render, state)
                self._emulator_and_terraform(state)
                objects = rendering.result()
            self._start_workloads(state, objects)
        except BaseException:
            if not self.executor.dry_run:
                console.fail("local-up failed: stopping what this run started (logs are kept)")
                self._teardown(state)
                State.path(self.dir).unlink(missing_ok=True)
            raise
        return state

    def _port(self, component: str) -> int:
        return self.settings.port(component) or free_port()

    def _emulator_and_terraform(self, state: State) -> None:
        """Spawn the emulator and apply Terraform to it while it starts.

        Terraform spends its first seconds on the provider and the validate walk, which call
        no emulator: a thread waits for the emulator meanwhile, and when the emulator fails
        (its process exits, or it is not ready in time), Terraform is stopped and the
        emulator's failure is raised. In a dry run the steps are shown one after the other.
        """
        started = self._spawn_emulator(state)
        ready, cancel = threading.Event(), threading.Event()
        failures: list[BaseException] = []

        def await_emulator() -> None:
            try:
                self._await_emulator(state, started, lambda: cancel.is_set())
                ready.set()
            except BaseException as failure:  # any: Terraform must not wait for it
                failures.append(failure)
                cancel.set()

        if self.executor.dry_run:
            await_emulator()
            self._apply_terraform(state)
            return
        waiter = threading.Thread(target=await_emulator, name="emulator-ready", daemon=True)
        waiter.start()
        try:
            self._apply_terraform(state, ready=ready, cancel=cancel)
        except BaseException as failure:
            cancel.set()  # the emulator's wait ends too
            waiter.join()
            if failures:  # the emulator failed: that is the cause, Terraform was stopped
                raise failures[0] from failure
            raise
        waiter.join()
        if failures:
            raise failures[0]

    def _spawn_emulator(self, state: State) -> float:
        """Start the emulator's process; returns when it was started (time.monotonic)."""
        port = self._port("emulator")
        plan = emulator.plan(self.settings, port, self.executor)
        url = f"http://127.0.0.1:{port}"
        console.step(f"start the AWS emulator ({plan.kind}) on {url}")
        started = time.monotonic()
        log = self.log_dir / "emulator.log"
        command, env = self._emulator_launch(plan, port)
        if self.executor.record("spawn", f"emulator ({plan.kind})", command, env):
            self._check_port_free(port, "emulator")
            record = procs.spawn("emulator", command, env, log, self.dir / "emulator")
            state.components["emulator"] = Component(record, url, url + plan.ready_path)
        state.emulator_url = url
        if not self.executor.dry_run:
            state.save(self.dir)
        self._emulator_vars = plan.terraform_vars
        return started

    def _await_emulator(
        self, state: State, started: float, given_up: Callable[[], bool] = lambda: False
    ) -> None:
        """Wait until the emulator is ready (or `given_up` says no one waits any more)."""
        self.executor.wait(
            "emulator ready",
            lambda: given_up() or self._probe(state, "emulator"),
            timeout=self.settings.ready_timeout,
            interval=0.2,
        )
        if not given_up():
            console.took(
                self.step_seconds, "emulator", started, f"emulator ready at {state.emulator_url}"
            )

    def _emulator_launch(
        self, plan: emulator.EmulatorPlan, port: int
    ) -> tuple[list[str], dict[str, str]]:
        """The command and environment that start the emulator (a host process here)."""
        return plan.command, plan.env

    def _apply_terraform(
        self,
        state: State,
        ready: threading.Event | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        console.step("apply infra/terraform/environments/local to the emulator")
        seconds = terraform.apply(
            self.executor,
            self.settings,
            state.emulator_url,
            self._emulator_vars,
            self.log_dir / "terraform.log",
            ready=ready,
            cancel=cancel,
        )
        state.terraform_state = str(terraform.state_file(self.settings))
        if not self.executor.dry_run:
            state.save(self.dir)
        self.step_seconds.update(seconds)
        console.done(
            "terraform applied ("
            + ", ".join(f"{step.split()[-1]} {s:.1f}s" for step, s in seconds.items())
            + ")"
        )

    def rendered(self, state: State) -> list[manifests.Object]:
        """The local overlay as this stack runs it: its ConfigMaps' GIT_SHA and BUILD_TIME
        say what runs (the keys the cluster sets; image defaults are overridden the same way)."""
        objects = manifests.load(manifests.render(OVERLAY))
        version.stamp(objects, lambda image: self.image_version(image, state))
        return objects

    def image_version(self, image: str, state: State) -> version.Version:
        """What a workload runs: the working tree as of this bring-up (processes run it)."""
        return version.Version(state.git_sha, state.build_time)

    def _render(self, state: State) -> tuple[list[manifests.Object], float]:
        """The overlay as `rendered` gives it, and the seconds that took."""
        started = time.monotonic()
        return self.rendered(state), time.monotonic() - started

    def _start_workloads(
        self, state: State, rendered: tuple[list[manifests.Object], float]
    ) -> None:
        console.step("render infra/k8s/overlays/local (during the apply)")
        objects, seconds = rendered
        started = time.monotonic() - seconds
        workloads = manifests.workloads(objects)
        ports = self.host_ports(workloads)
        routes = manifests.service_routes(objects, ports, workloads)
        console.took(
            self.step_seconds,
            "manifests",
            started,
            f"{len(objects)} objects, {len(workloads)} Deployments: "
            + ", ".join(w.name for w in workloads)
            + f"; git_sha {state.git_sha}, build_time {state.build_time}",
        )
        started = time.monotonic()
        for workload in workloads:
            self._mount_secrets(workload, objects, state.emulator_url)
            command, env, cwd = self._process_spec(workload, ports, routes, state.emulator_url)
            url = f"http://127.0.0.1:{ports[workload.name]}"
            console.step(f"start {workload.name} on {url}")
            if self.executor.record("spawn", workload.name, command, env):
                listen = self.listen_ports(workload, ports)
                for port in listen.values():
                    self._check_port_free(port, workload.name)
                for mount in workload.mounts:
                    self.host_path(workload.name, mount.path).mkdir(parents=True, exist_ok=True)
                record = procs.spawn(
                    workload.name, command, env, self.log_dir / f"{workload.name}.log", cwd
                )
                metrics = listen.get(PORT_ENV["metrics"])
                state.components[workload.name] = Component(
                    record,
                    url,
                    url + workload.readiness_path,
                    f"http://127.0.0.1:{metrics}" if metrics else "",
                )
                state.save(self.dir)
        # Monitoring needs nothing from the services but their addresses: it starts alongside.
        waits = [(w.name, f"GET {w.readiness_path}") for w in workloads]
        if self.settings.monitoring:
            waits += self._start_monitoring(state, objects, workloads, ports)
        for name, probe in waits:
            self._wait_ready(state, name, probe)
            console.done(f"{name} ready")
        console.took(
            self.step_seconds, "services", started, "secrets mounted, services started and ready"
        )

    def _wait_ready(self, state: State, name: str, probe: str) -> None:
        self.executor.wait(
            f"{name} ready ({probe})",
            lambda: self._probe(state, name),
            timeout=self.settings.ready_timeout,
            interval=0.2,
            on_timeout=lambda: self._not_ready(state, name),
        )

    def host_ports(self, workloads: list[Workload]) -> dict[str, int]:
        """Host ports: each workload's (its first container port) and `<workload>-<name>` for
        each of its ports named in PORT_ENV; from LOCAL_PORTS, else free ones."""
        ports = {}
        for workload in workloads:
            ports[workload.name] = self._port(workload.name)
            for name in PORT_ENV:
                if name in workload.ports:
                    ports[f"{workload.name}-{name}"] = self._port(f"{workload.name}-{name}")
        return ports

    @staticmethod
    def listen_ports(workload: Workload, ports: dict[str, int]) -> dict[str, int]:
        """The env variables that tell `workload` where to listen (PORT, METRICS_PORT, ...)."""
        listen = {"PORT": ports[workload.name]}
        for name, variable in PORT_ENV.items():
            if name in workload.ports:
                listen[variable] = ports[f"{workload.name}-{name}"]
        return listen

    def listen_env(self, workload: Workload, ports: dict[str, int]) -> dict[str, str]:
        """HOST and the listen ports of `workload`, as env (what the container's defaults were)."""
        listen = {key: str(port) for key, port in self.listen_ports(workload, ports).items()}
        return {"HOST": "127.0.0.1", **listen}

    def host_address(self, workload: Workload, container_port: int, ports: dict[str, int]) -> str:
        """Where a container port of `workload` is served on the host.

        The first container port is mapped to the workload's host port (`PORT`), a port named
        in PORT_ENV to its own host port; any other is not remapped, so the process listens
        on it as the manifest says.
        """
        if container_port == workload.container_port:
            return f"127.0.0.1:{ports[workload.name]}"
        for name in PORT_ENV:
            if workload.ports.get(name) == container_port:
                return f"127.0.0.1:{ports[f'{workload.name}-{name}']}"
        return f"127.0.0.1:{container_port}"

    def _start_monitoring(
        self,
        state: State,
        objects: list[manifests.Object],
        workloads: list[Workload],
        ports: dict[str, int],
    ) -> list[tuple[str, str]]:
        """Spawn the alert sink, Alertmanager and Prometheus; what to wait for (none if absent)."""
        if self.executor.dry_run:
            missing = monitoring.missing_binaries()
            if missing:
                self.executor.record(
                    "run", "install (first use)", ["apt-get", "install", "-y", *missing]
                )
        else:
            reason = monitoring.install(self.log_dir / "apt.log")
            if reason:
                console.note(f"monitoring skipped: {reason}")
                return []
        directory = self.dir / "monitoring"
        sink_port, am_port, prom_port = (
            self._port(monitoring.ALERT_SINK),
            self._port(monitoring.ALERTMANAGER),
            self._port(monitoring.PROMETHEUS),
        )
        sink_url = f"http://127.0.0.1:{sink_port}"
        generated = monitoring.generate(
            objects,
            workloads,
            lambda workload, port: self.host_address(workload, port, ports),
            alertmanager_address=f"127.0.0.1:{am_port}",
            sink_url=sink_url,
            interval=self.settings.monitoring_interval or None,
            directory=directory,
        )
        for name, text in generated.files().items():
            self.executor.record("write", f"monitoring/{name}", manifest=text)
        if not self.executor.dry_run:
            generated.write(directory)
        specs: list[tuple[str, int, list[str]]] = []
        if generated.alertmanager is not None:
            specs.append(
                (
                    monitoring.ALERT_SINK,
                    sink_port,
                    [
                        sys.executable,
                        "-m",
                        "kontaxa_local.alert_sink",
                        "--port",
                        str(sink_port),
                        "--record",
                        str(directory / "alerts.jsonl"),
                    ],
                )
            )
            specs.append(
                (
                    monitoring.ALERTMANAGER,
                    am_port,
                    [
                        "prometheus-alertmanager",
                        f"--config.file={directory / 'alertmanager.yml'}",
                        f"--storage.path={directory / 'alertmanager-data'}",
                        f"--web.listen-address=127.0.0.1:{am_port}",
                        "--cluster.listen-address=",  # one instance: no gossip port
                    ],
                )
            )
        prometheus = [
            "prometheus",
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ]
        if generated.retention:
            prometheus.append(f"--storage.tsdb.retention.time={generated.retention}")
        specs.append((monitoring.PROMETHEUS, prom_port, prometheus))
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(directory),
        }
        for name, port, command in specs:
            url = f"http://127.0.0.1:{port}"
            console.step(f"start {name} on {url}")
            if self.executor.record("spawn", name, command, env):
                self._check_port_free(port, name)
                record = procs.spawn(name, command, env, self.log_dir / f"{name}.log", directory)
                state.components[name] = Component(record, url, url + "/-/ready")
                state.save(self.dir)
        return [(name, "GET /-/ready") for name, _, _ in specs]

    def pod_dir(self, workload: str) -> Path:
        """Where a workload's volumes live on the host."""
        return self.dir / "pods" / workload

    def host_path(self, workload: str, mount_path: str) -> Path:
        """The host directory standing in for a container path."""
        return self.pod_dir(workload) / mount_path.lstrip("/")

    def _mount_secrets(
        self, workload: Workload, objects: list[manifests.Object], emulator_url: str
    ) -> None:
        from secrets_provider import MountError, mount_directory

        for mount in workload.mounts:
            if mount.kind != "csi-secrets":
                continue
            spc = mount.source.get("volumeAttributes", {}).get("secretProviderClass", "")
            parameters = manifests.secret_provider_parameters(objects, workload.namespace, spc)
            target = self.host_path(workload.name, mount.path)
            console.step(f"mount SecretProviderClass {spc} for {workload.name} at {mount.path}")
            if not self.executor.record(
                "write",
                f"secrets of {workload.name} from {spc}",
                manifest=parameters.get("objects", ""),
            ):
                continue
            target.mkdir(parents=True, exist_ok=True)
            try:
                versions = mount_directory(
                    target,
                    parameters,
                    default_region=REGION,
                    endpoint_url=emulator_url,
                    session=emulator.emulator_session(),
                )
            except MountError as exc:
                raise StepFailed(f"mount secrets of {workload.name}", str(exc)) from exc
            console.done(f"{len(versions)} files: {', '.join(sorted(versions))}")

    def _process_spec(
        self, workload: Workload, ports: dict[str, int], routes: dict[str, str], emulator_url: str
    ) -> tuple[list[str], dict[str, str], Path]:
        """The host command and env standing in for the container."""
        pod = self.pod_dir(workload.name)
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(pod),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
        }
        for key, value in workload.env.items():
            env[key] = self._map_value(workload, value, routes)
        if "AWS_ENDPOINT_URL" in env:
            env["AWS_ENDPOINT_URL"] = emulator_url  # the in-cluster emulator is ours, on the host
        for mount in workload.mounts:
            if mount.path == "/tmp":  # noqa: S108 - the container's tmpfs
                env["TMPDIR"] = str(self.host_path(workload.name, mount.path))
        env.update(self.listen_env(workload, ports))
        command = [
            sys.executable if part in {"python", "python3"} else part for part in workload.command
        ]
        if self.settings.reload and command[1:2] == ["-m"]:
            module = command[2]
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                f"{module}.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                env["PORT"],
                "--reload",
                "--reload-dir",
                str(REPO_ROOT / "services"),
            ]
        return command, env, pod

    @staticmethod
    def map_url(value: str, routes: dict[str, str]) -> str:
        """A cluster Service URL in an env value, mapped to the local URL that serves it."""
        for cluster_url, local_url in routes.items():
            if value == cluster_url or value.startswith(cluster_url + "/"):
                return local_url + value[len(cluster_url) :]
        return value

    def _map_value(self, workload: Workload, value: str, routes: dict[str, str]) -> str:
        """A cluster URL or a container path in an env value, mapped to its host equivalent."""
        mapped = self.map_url(value, routes)
        if mapped != value:
            return mapped
        for mount in sorted(workload.mounts, key=lambda m: len(m.path), reverse=True):
            if value == mount.path or value.startswith(mount.path.rstrip("/") + "/"):
                return str(self.host_path(workload.name, mount.path)) + value[len(mount.path) :]
        return value

    def _check_port_free(self, port: int, component: str) -> None:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise StepFailed(
                    f"start {component}",
                    f"port {port} is already in use; set LOCAL_PORTS to another port "
                    "(0 picks a free one) or stop what uses it",
                )

    def _probe(self, state: State, name: str) -> bool:
        component = state.components[name]
        if not component.process.alive():
            raise self._not_ready(state, name, died=True)
        return http_ok(component.ready_url)

    def _not_ready(self, state: State, name: str, died: bool = False) -> StepFailed:
        component = state.components[name]
        reason = (
            "the process exited"
            if died
            else f"{component.ready_url} not ready within {self.settings.ready_timeout:.0f}s"
        )
        return StepFailed(
            f"start {name}",
            reason,
            component.process.command,
            Path(component.process.log),
            procs.tail(component.process.log),
        )

    # ---- down, status, logs ---------------------------------------------------------------
    def down(self) -> None:
        """Stop every recorded process and remove what up made (the cache excepted)."""
        state = State.load(self.dir)
        if state is None:
            console.done("nothing is up")
        else:
            self._teardown(state)
        if self.executor.dry_run:
            self.executor.record("remove", f"{self.dir} (all but {CACHE_DIR}/)")
            return
        if self.dir.exists():
            for child in self.dir.iterdir():
                if child.name != CACHE_DIR:
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            if not any(self.dir.iterdir()):
                self.dir.rmdir()

    def _teardown(self, state: State) -> None:
        # Services first, the emulator last (reverse start order).
        for name in reversed(list(state.components)):
            component = state.components[name]
            if not self.executor.record("stop", f"{name} (pid {component.process.pid})"):
                continue
            if procs.stop(component.process):
                console.done(f"stopped {name} (pid {component.process.pid})")

    def healthy(self, state: State) -> bool:
        """Every recorded component alive and ready."""
        return bool(state.components) and all(
            c.process.alive() and http_ok(c.ready_url) for c in state.components.values()
        )

    def status(self) -> list[StatusRow]:
        """Each component's state and URL."""
        state = State.load(self.dir)
        if state is None:
            return []
        rows = []
        for name, component in state.components.items():
            alive = component.process.alive()
            ready = alive and http_ok(component.ready_url)
            rows.append(
                StatusRow(
                    name,
                    "ready" if ready else "running" if alive else "stopped",
                    component.url,
                    f"pid {component.process.pid}",
                )
            )
        return rows

    def log_files(self) -> dict[str, Path]:
        """Each component's log file."""
        state = State.load(self.dir)
        if state is None:
            return {}
        return {name: Path(c.process.log) for name, c in state.components.items()}

    # ---- operations used by the e2e suite and by developers ---------------------------------
    def stop_component(self, name: str) -> None:
        """Stop one component (it stays recorded, so start_component brings it back)."""
        state = self._require_state()
        procs.stop(state.components[name].process)

    def start_component(self, name: str) -> None:
        """Start a stopped component again and wait until it is ready."""
        state = self._require_state()
        component = state.components[name]
        if not component.process.alive():
            component.process = procs.respawn(component.process)
            state.save(self.dir)
        self.executor.wait(
            f"{name} ready",
            lambda: self._probe(state, name),
            timeout=self.settings.ready_timeout,
            interval=0.2,
        )

    def remount_secrets(self) -> None:
        """Fetch every pod's secrets again (what CSI rotation does); services reload them."""
        state = self._require_state()
        objects = self.rendered(state)
        for workload in manifests.workloads(objects):
            self._mount_secrets(workload, objects, state.emulator_url)

    def restore_emulator(self) -> None:
        """After the emulator restarted empty: apply Terraform again and remount the secrets.

        As in `up`, an apply that met a create the AWS SDK sent twice is done once more on an
        emulator restarted empty: left alone, the stack would keep the secret versions that
        apply wrote with values no pod has mounted (every request then gets 401)."""
        state = self._require_state()
        self._emulator_vars = emulator.plan(self.settings, 0, self.executor).terraform_vars
        self._again_if_resent(
            lambda: self._apply_terraform(state), self._apply_to_a_restarted_emulator
        )
        self.remount_secrets()

    def _apply_to_a_restarted_emulator(self) -> None:
        self.stop_component("emulator")
        self.start_component("emulator")
        self._apply_terraform(self._require_state())  # as saved with the new emulator

    def _require_state(self) -> State:
        state = State.load(self.dir)
        if state is None:
            raise StepFailed("find the local stack", "nothing is up: run `task local-up` first")
        return state

    # ---- output -------------------------------------------------------------------------
    def print_summary(self, state: State, elapsed: float | None) -> None:
        """URLs, an example request, and the time taken."""
        from rich.table import Table

        table = Table(title="Kontaxa local stack (process runtime)")
        for column in ("component", "url", "pid"):
            table.add_column(column)
        for name, component in state.components.items():
            table.add_row(name, component.url, str(component.process.pid))
        console.console.print(table)
        if MAIN_SERVICE in state.components:
            key_file = self.host_path(MAIN_SERVICE, "/mnt/secrets") / API_KEY_FILE
            rel = os.path.relpath(key_file, Path.cwd())
            main_url = state.components[MAIN_SERVICE].url
            console.console.print(
                'try:  curl -s -H "Authorization: Bearer $(cat '
                f'{rel})" {main_url}/parameters/welcome-message',
                soft_wrap=True,
            )
        if elapsed is not None:
            console.console.print(
                f"up in {elapsed:.1f}s ({console.listed(self.step_seconds)}); "
                f"logs: {self.log_dir}; stop with: task local-down"
            )
