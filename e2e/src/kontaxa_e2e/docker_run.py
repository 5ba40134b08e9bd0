"""Run Kontaxa service containers the way Kubernetes runs the pods, for tests.

Standard library only, so any test tier can use it (the e2e suite's `containers` target
included). Every container runs hardened as the manifests run the pods: read-only root
filesystem, a tmpfs at /tmp (the only writable path), uid/gid 10001, all capabilities
dropped, no privilege escalation, the secrets directory mounted read-only at /mnt/secrets.
It publishes its port on 127.0.0.1 only (or shares the host's network, binding 127.0.0.1).

    with running_container("kontaxa/aux-service:dev", env={...}, secrets_dir=path) as aux:
        httpx.get(aux.url + "/health")

Knob: DOCKER, the docker CLI to run (default: the first on PATH, or Debian's, that answers).
"""

import contextlib
import json
import os
import shutil
import stat
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kontaxa_local.process_runtime import free_port

CONTAINER_PORT = 8080
SECRETS_MOUNT = "/mnt/secrets"
RUN_AS = "10001:10001"
# Every container and network made here carries this label, valued with this process's run
# id, so its leftovers can be removed without touching another test run's.
LABEL = "org.kontaxa.test-run"
RUN_ID = uuid.uuid4().hex[:12]
_DOCKER_TIMEOUT = 120
_cli: str | None = None


class DockerError(RuntimeError):
    """A docker command failed; the message holds the command and its output."""


def docker_cli() -> str | None:
    """A docker CLI whose engine answers, or None (honours $DOCKER)."""
    global _cli  # found once, then reused by every call
    if _cli:
        return _cli
    candidates = [os.environ.get("DOCKER"), shutil.which("docker"), "/usr/bin/docker"]
    for candidate in dict.fromkeys(c for c in candidates if c):
        try:
            result = subprocess.run(
                [candidate, "version", "--format", "{{.Server.Version}}"],
                capture_output=True,
                text=True,
                timeout=15,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0 and result.stdout.strip():
            _cli = candidate
            return candidate
    return None


def docker_unavailable_reason() -> str | None:
    """Why containers cannot run here (one line), or None when a Docker engine answers."""
    if docker_cli():
        return None
    if not (shutil.which("docker") or Path("/usr/bin/docker").exists()):
        return "no docker CLI installed (scripts/images/engine.sh start installs and starts one)"
    return "no Docker engine answers (scripts/images/engine.sh start starts one as root)"


def docker(*args: str, timeout: float = _DOCKER_TIMEOUT, check: bool = True) -> str:
    """Run `docker ARGS`; returns stdout. Raises DockerError when it fails and `check`."""
    cli = docker_cli()
    if cli is None:
        raise DockerError(docker_unavailable_reason() or "no Docker engine")
    result = subprocess.run(
        [cli, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise DockerError(
            f"docker {' '.join(args)} failed ({result.returncode}): "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    return result.stdout


@dataclass
class RunningContainer:
    """A started container: its id, name and, when it serves HTTP, its URL from the host."""

    id: str
    name: str
    image: str
    port: int | None
    url: str | None
    stopped: bool = field(default=False, init=False)

    def logs(self) -> str:
        """Everything the container wrote to stdout and stderr so far."""
        result = subprocess.run(
            [docker_cli() or "docker", "logs", self.id],
            capture_output=True,
            text=True,
            timeout=_DOCKER_TIMEOUT,
            check=False,
        )
        return result.stdout + result.stderr

    def inspect(self) -> dict[str, Any]:
        """`docker inspect` of the container."""
        data: list[dict[str, Any]] = json.loads(docker("inspect", self.id))
        return data[0]

    def is_running(self) -> bool:
        """Whether the container's process is still alive."""
        return bool(self.inspect()["State"]["Running"])

    def exec(self, *command: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `command` inside the container (as its user unless `user` is given)."""
        args = [docker_cli() or "docker", "exec"]
        if user:
            args += ["--user", user]
        return subprocess.run(
            [*args, self.id, *command],
            capture_output=True,
            text=True,
            timeout=_DOCKER_TIMEOUT,
            check=False,
        )

    def wait_ready(self, path: str = "/health", timeout: float = 30.0) -> None:
        """Block until GET `path` answers 200; raises with the container's logs if it never does."""
        if self.url is None:
            raise ValueError(f"{self.name} serves no HTTP port")
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == 200:
                        return
                    last_error = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code}"
            except (OSError, urllib.error.URLError) as exc:
                last_error = str(exc)
            if not self.is_running():
                break
            time.sleep(0.2)
        raise TimeoutError(
            f"{self.name} ({self.image}) not ready on {self.url}{path} after {timeout}s "
            f"({last_error}); logs:\n{self.logs()[-4000:]}"
        )

    def stop(self, timeout: int = 10) -> int:
        """SIGTERM, then SIGKILL after `timeout` s; removes the container. Returns its exit code."""
        if self.stopped:
            return 0
        docker("stop", "--time", str(timeout), self.id, timeout=timeout + 60, check=False)
        code = 0
        with contextlib.suppress(DockerError, json.JSONDecodeError, IndexError):
            code = int(self.inspect()["State"]["ExitCode"])
        docker("rm", "--force", "--volumes", self.id, check=False)
        self.stopped = True
        return code


def hardening_args() -> list[str]:
    """`docker run` options that run a container as its pod runs, labelled for clean-up."""
    return [
        "--read-only",
        "--tmpfs",
        "/tmp:rw,nosuid,nodev,size=64m",
        "--user",
        RUN_AS,
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--label",
        f"{LABEL}={RUN_ID}",
    ]


def check_readable_by_service(directory: Path) -> None:
    mode = directory.stat().st_mode
    if not (mode & stat.S_IROTH and mode & stat.S_IXOTH):
        raise PermissionError(
            f"{directory} must be readable by uid 10001 inside the container "
            f"(its mode is {stat.filemode(mode)}; chmod o+rx it)"
        )


def run_container(
    image: str,
    *,
    env: Mapping[str, str] | None = None,
    secrets_dir: Path | None = None,
    network: str = "bridge",
    aliases: Sequence[str] = (),
    port: int | None = None,
    container_port: int | None = CONTAINER_PORT,
    volumes: Sequence[tuple[Path, str, str]] = (),
    command: Sequence[str] = (),
    name: str | None = None,
    ready_path: str | None = "/health",
    ready_timeout: float = 30.0,
    labels: Mapping[str, str] | None = None,
) -> RunningContainer:
    """Start `image` hardened like its pod and (by default) wait until GET /health answers.

    - `env`: environment (the ConfigMap's data, AWS_ENDPOINT_URL, credentials...).
    - `secrets_dir`: mounted read-only at /mnt/secrets (must be readable by uid 10001).
    - `network`: "bridge" (default) publishes `container_port` on 127.0.0.1:`port`;
      "host" shares the host's network, the service binding 127.0.0.1:`port` (HOST and PORT
      are set, and METRICS_PORT to a free port: two services side by side would both take
      the default), so it reaches servers on the host's loopback (an emulator, a peer); any other
      value is a user-defined network (see `network()`), where `aliases` are its DNS names,
      and the port is published on 127.0.0.1 as with "bridge".
    - `port`: the host port (default: a free one); `container_port=None` publishes nothing.
    - `volumes`: extra (host path, container path, "ro" or "rw") bind mounts.
    - `ready_path=None`: do not wait (for containers that serve no HTTP).
    """
    name = name or f"kontaxa-test-{uuid.uuid4().hex[:10]}"
    env = dict(env or {})
    args = ["run", "--detach", "--name", name, *hardening_args()]
    for key, value in (labels or {}).items():
        args += ["--label", f"{key}={value}"]
    url = None
    if container_port is not None:
        port = port or free_port()
        if network == "host":
            env.update(HOST="127.0.0.1", PORT=str(port))
            env.setdefault("METRICS_PORT", str(free_port()))
        else:
            args += ["--publish", f"127.0.0.1:{port}:{container_port}"]
        url = f"http://127.0.0.1:{port}"
    args += ["--network", network]
    for alias in aliases:
        args += ["--network-alias", alias]
    if secrets_dir is not None:
        secrets_dir = secrets_dir.resolve()
        check_readable_by_service(secrets_dir)
        args += ["--volume", f"{secrets_dir}:{SECRETS_MOUNT}:ro"]
        env.setdefault("SECRETS_DIR", SECRETS_MOUNT)
    for host_path, container_path, mode in volumes:
        args += ["--volume", f"{Path(host_path).resolve()}:{container_path}:{mode}"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    container_id = docker(*args, image, *command).strip()
    container = RunningContainer(container_id, name, image, port, url)
    if ready_path is not None and url is not None:
        try:
            container.wait_ready(ready_path, ready_timeout)
        except BaseException:
            container.stop(timeout=2)
            raise
    return container


@contextlib.contextmanager
def running_container(image: str, **options: Any) -> Iterator[RunningContainer]:
    """`run_container` for the duration of a block; stopped and removed afterwards."""
    container = run_container(image, **options)
    try:
        yield container
    finally:
        container.stop()


@contextlib.contextmanager
def network(name: str | None = None) -> Iterator[str]:
    """A user-defined bridge network (containers find each other by alias); removed afterwards."""
    name = name or f"kontaxa-test-{uuid.uuid4().hex[:10]}"
    docker("network", "create", "--label", f"{LABEL}={RUN_ID}", name)
    try:
        yield name
    finally:
        docker("network", "rm", name, check=False)


def remove_leftovers() -> None:
    """Remove the containers and networks this process started and left (at session end)."""
    selector = f"label={LABEL}={RUN_ID}"
    ids = docker("ps", "--all", "--quiet", "--filter", selector, check=False).split()
    if ids:
        docker("rm", "--force", "--volumes", *ids, check=False)
    nets = docker("network", "ls", "--quiet", "--filter", selector, check=False).split()
    if nets:
        docker("network", "rm", *nets, check=False)
