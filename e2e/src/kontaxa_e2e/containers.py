"""The `containers` target: the process runtime with each service in its container.

Same Terraform, same rendered overlay and the same secrets-provider library filling
each pod's secrets directory; only the launch differs: `docker run` of the Deployment's
image, hardened as its pod runs, sharing the host's network (loopback only). The moto
emulator runs from kontaxa/aws-emulator, the image the kind runtime deploys.
"""

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from kontaxa_e2e.docker_run import (
    RUN_ID,
    docker,
    docker_cli,
    docker_unavailable_reason,
    hardening_args,
    remove_leftovers,
)
from kontaxa_e2e.targets import ProcessTarget
from kontaxa_local import emulator, manifests
from kontaxa_local.process_runtime import ProcessRuntime
from kontaxa_local.settings import IMAGE_TAG, REPO_ROOT
from kontaxa_local.state import State
from kontaxa_local.version import Version, working_tree_revision

__all__ = ["ContainerRuntime", "ContainersTarget", "docker_unavailable_reason"]
BUILD_TIMEOUT = 1800
# The emulator image of infra/k8s/platform/aws-emulator (tests/containers checks the two agree).
EMULATOR_IMAGE = f"kontaxa/aws-emulator:{IMAGE_TAG}"
REVISION_LABEL = "org.opencontainers.image.revision"
CREATED_LABEL = "org.opencontainers.image.created"


class ContainerRuntime(ProcessRuntime):
    """Runs each Deployment's image with the env and secrets the manifests give it."""

    name = "containers"

    def container_name(self, workload: str) -> str:
        """The container of `workload` in this run."""
        return f"kontaxa-{workload}-{RUN_ID}"

    def _process_spec(
        self,
        workload: manifests.Workload,
        ports: dict[str, int],
        routes: dict[str, str],
        emulator_url: str,
    ) -> tuple[list[str], dict[str, str], Path]:
        env = {key: self.map_url(value, routes) for key, value in workload.env.items()}
        if "AWS_ENDPOINT_URL" in env:
            env["AWS_ENDPOINT_URL"] = emulator_url
        env.update(self.listen_env(workload, ports))
        options: list[str] = []
        for mount in workload.mounts:
            if mount.kind == "csi-secrets":
                host = self.host_path(workload.name, mount.path)
                options += ["--volume", f"{host}:{mount.path}:ro"]
            elif mount.kind == "emptyDir" and mount.path != "/tmp":
                options += ["--tmpfs", mount.path]
        for key, value in sorted(env.items()):
            options += ["--env", f"{key}={value}"]
        cli = docker_cli() or "docker"
        command = [
            cli,
            "run",
            "--rm",
            "--name",
            self.container_name(workload.name),
            *hardening_args(),
            "--network",
            "host",
            *options,
            workload.image,
            *workload.command,
        ]
        host_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.dir)}
        return command, host_env, self.pod_dir(workload.name)

    def _emulator_launch(
        self, plan: emulator.EmulatorPlan, port: int
    ) -> tuple[list[str], dict[str, str]]:
        """moto from the emulator image, on 127.0.0.1:`port` of the host network."""
        if plan.kind != "moto":
            return super()._emulator_launch(plan, port)  # LocalStack: no image to build
        options: list[str] = []
        for key, value in sorted(plan.env.items()):
            if key != "PATH":
                options += ["--env", f"{key}={value}"]
        command = [
            docker_cli() or "docker",
            "run",
            "--rm",
            "--name",
            self.container_name("emulator"),
            *hardening_args(),
            "--network",
            "host",
            *options,
            EMULATOR_IMAGE,
            "python",
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ]
        return command, {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.dir)}

    def _mount_secrets(
        self, workload: manifests.Workload, objects: list[Any], emulator_url: str
    ) -> None:
        super()._mount_secrets(workload, objects, emulator_url)
        # The service runs as uid 10001: it must be able to read what the library wrote.
        for path in [self.pod_dir(workload.name), *self.pod_dir(workload.name).rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | (0o005 if path.is_dir() else 0o004))

    def image_version(self, image: str, state: State) -> Version:
        """What the image says it was built from: its OCI revision and created labels (the
        values its GIT_SHA and BUILD_TIME env defaults hold)."""
        labels = json.loads(
            docker("image", "inspect", "--format", "{{json .Config.Labels}}", image)
        )
        return Version(labels[REVISION_LABEL], labels[CREATED_LABEL])

    def stop_component(self, name: str) -> None:
        """Stop the `docker run` process; make sure its container is gone too."""
        super().stop_component(name)
        docker("rm", "--force", self.container_name(name), check=False)

    def _teardown(self, state: State) -> None:
        super()._teardown(state)
        remove_leftovers()


def build_images() -> None:
    """`scripts/images/build.sh` (layers cached: seconds when nothing changed)."""
    result = subprocess.run(
        [str(REPO_ROOT / "scripts/images/build.sh")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
        env={**os.environ, "IMAGE_TAG": "dev", "BUILD_PROGRESS": "plain"},
    )
    if result.returncode != 0:
        raise RuntimeError(
            "scripts/images/build.sh failed:\n" + (result.stdout + result.stderr)[-4000:]
        )


class ContainersTarget(ProcessTarget):
    """The stack with both services in containers (images built first)."""

    name = "containers"
    with_monitoring = False  # the process target checks monitoring; scraping is the same here

    def __init__(self) -> None:
        # The images are built from the working tree as it is now (build.sh labels them so).
        self.source_revision = working_tree_revision()
        build_images()
        # Readable by the containers' uid: not under pytest's 0700 temp directories.
        state_dir = Path(tempfile.mkdtemp(prefix="kontaxa-containers-"))
        state_dir.chmod(0o755)
        super().__init__(state_dir, runtime_factory=ContainerRuntime)
        self._state_dir = state_dir

    def close(self) -> None:
        """local-down, then the state directory."""
        super().close()
        import shutil

        shutil.rmtree(self._state_dir, ignore_errors=True)
