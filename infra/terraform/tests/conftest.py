"""Shared fixtures of the Terraform tests: a terraform runner and AWS emulators on loopback.

Every emulator binds 127.0.0.1 on a free port and is stopped by the PID this file started.
Terraform always runs through scripts/terraform.sh, so the tests install providers exactly
as the Task targets do (the offline mirror when present, the registry otherwise).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

# One list of LocalStack's host requirements and one Python 3.13 finder: the runner's.
from kontaxa_local.emulator import LOCALSTACK_REQUIREMENTS, find_python
from kontaxa_local.process_runtime import free_port

TERRAFORM_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TERRAFORM_DIR.parents[1]
TERRAFORM_WRAPPER = TERRAFORM_DIR / "scripts" / "terraform.sh"
MODULE_DIRS = sorted(path for path in (TERRAFORM_DIR / "modules").iterdir() if path.is_dir())
ROOT_DIRS = sorted(path for path in (TERRAFORM_DIR / "environments").iterdir() if path.is_dir())
LOCAL_ROOT = TERRAFORM_DIR / "environments" / "local"
AWS_ROOT = TERRAFORM_DIR / "environments" / "aws"

EMULATOR_ACCOUNT = "123456789012"
REGION = "us-east-1"

# Environment variables that must not leak from the developer's shell into a test run:
# real credentials, profiles, endpoints, or terraform settings of their own.
_SCRUBBED_PREFIXES = ("AWS_", "TF_")


def task_vars() -> dict[str, str]:
    """The pinned tool versions and defaults of infra/terraform/Taskfile.yml (one source)."""
    taskfile = yaml.safe_load((TERRAFORM_DIR / "Taskfile.yml").read_text())
    return {key: str(value) for key, value in taskfile["vars"].items()}


def uv_binary() -> str | None:
    """uv from PATH or from the project's bootstrap toolchain (.tools/bin)."""
    return shutil.which("uv") or shutil.which("uv", path=str(REPO_ROOT / ".tools" / "bin"))


def task_binary() -> str | None:
    """go-task from PATH or from the project's bootstrap toolchain (.tools/bin)."""
    return shutil.which("task") or shutil.which("task", path=str(REPO_ROOT / ".tools" / "bin"))


def task_env(task: str, **extra: str) -> dict[str, str]:
    """clean_env for running `task` (go-task): its directory first on PATH, for the
    commands its tasks call (uv, task itself)."""
    return clean_env(**{"PATH": f"{Path(task).parent}:{clean_env()['PATH']}", **extra})


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without AWS_*/TF_* variables, with IMDS off and the given additions."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        {
            # Never ask 169.254.169.254 for credentials: the tests talk to loopback only.
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
        }
    )
    env.update(extra)
    return env


@dataclass
class Terraform:
    """terraform (through scripts/terraform.sh) on one configuration, with its own data dir."""

    config_dir: Path
    data_dir: Path
    env: dict[str, str] = field(default_factory=clean_env)
    command: tuple[str, ...] = (str(TERRAFORM_WRAPPER),)

    def run(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run one terraform command; on an unexpected exit code, fail with its output."""
        env = {**self.env, "TF_DATA_DIR": str(self.data_dir)}
        result = subprocess.run(
            [*self.command, f"-chdir={self.config_dir}", *args, "-no-color"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"terraform {' '.join(args)} in {self.config_dir} exited {result.returncode}\n"
                f"--- stdout ---\n{result.stdout[-8000:]}\n--- stderr ---\n{result.stderr[-8000:]}"
            )
        return result

    def output(self) -> dict[str, Any]:
        """terraform output -json, as values."""
        raw = json.loads(self.run("output", "-json").stdout)
        return {name: item["value"] for name, item in raw.items()}

    def show_state(self) -> dict[str, Any]:
        """terraform show -json of the current state."""
        state: dict[str, Any] = json.loads(self.run("show", "-json").stdout)
        return state


@pytest.fixture(scope="session")
def terraform_available() -> None:
    """Skip with the reason when the terraform CLI is not installed."""
    if shutil.which("terraform") is None:
        pytest.skip("terraform CLI not on PATH: install Terraform >= 1.11 to run these tests")


def provider_mirror() -> Path | None:
    """The filesystem mirror cli-config.tfrc names, when this machine has it."""
    config = (TERRAFORM_DIR / "cli-config.tfrc").read_text()
    match = re.search(r'^\s*path\s*=\s*"([^"]+)"', config, re.M)
    return Path(match.group(1)) if match and Path(match.group(1)).is_dir() else None


@pytest.fixture(scope="session")
def plugin_cache(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Without the mirror, share one download of the provider between data dirs."""
    if provider_mirror() is not None:
        return {}
    return {"TF_PLUGIN_CACHE_DIR": str(tmp_path_factory.mktemp("tf-plugin-cache"))}


@dataclass
class Emulator:
    """An AWS emulator process listening on 127.0.0.1."""

    name: str
    endpoint_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the emulator's log, for failure messages."""
        return self.log_path.read_text(errors="replace")[-chars:]


def _wait_until_ready(emulator: Emulator, probe_path: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(emulator.endpoint_url + probe_path, timeout=2) as reply:
                if reply.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    return False


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a process this suite started: SIGTERM by PID, SIGKILL after 15 s."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def start_emulator(
    name: str,
    argv: list[str],
    env: dict[str, str],
    port: int,
    log_path: Path,
    probe_path: str,
    timeout: float,
) -> Emulator:
    """Start an emulator and wait until probe_path answers 200; fail with its log if not."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    emulator = Emulator(name, f"http://127.0.0.1:{port}", process, log_path)
    if not _wait_until_ready(emulator, probe_path, timeout):
        stop_process(process)
        pytest.fail(f"{name} did not answer on {emulator.endpoint_url}\n{emulator.log_tail()}")
    return emulator


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A fresh moto server (the workspace's moto[server]) on a free loopback port."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    env = clean_env(
        # The EKS cluster and node roles attach AWS managed policies, which moto
        # only knows when told to load them.
        MOTO_IAM_LOAD_MANAGED_POLICIES="true",
    )
    emulator = start_emulator(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env,
        port,
        log_path,
        "/moto-api/",
        timeout=30,
    )
    yield emulator
    stop_process(emulator.process)


@pytest.fixture(scope="module")
def localstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """LocalStack in a venv of its own on a free loopback port, or a skip with the reason."""
    uv = uv_binary()
    python = find_python("3.13")
    if uv is None:
        pytest.skip("LocalStack test: uv is not installed (./task setup bootstraps it)")
    if python is None:
        pytest.skip("LocalStack test: localstack-core needs Python 3.13 and none is installed")
    work = tmp_path_factory.mktemp("localstack")
    venv = work / "venv"
    # uv and Python 3.13 are here, and the package index answers wherever the project's own
    # dependencies could be installed: a failure is a defect (a broken pin, a conflict in
    # LOCALSTACK_REQUIREMENTS), not a reason to skip.
    steps = {
        "creating its venv": [uv, "venv", "--quiet", "--python", python, str(venv)],
        "installing LOCALSTACK_REQUIREMENTS": [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            *LOCALSTACK_REQUIREMENTS,
        ],
    }
    for step, command in steps.items():
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.fail(f"LocalStack test: {step} under Python 3.13: {reason}", pytrace=False)
    port = free_port()
    env = emulator_env(f"http://127.0.0.1:{port}")
    env.update(
        {
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(work / "root"),
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            # No DNS server (it would bind port 53), no certificate download, no analytics:
            # LocalStack talks to nothing but its clients on loopback.
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
        }
    )
    emulator = start_emulator(
        "LocalStack",
        [str(venv / "bin" / "python"), "-m", "localstack.runtime.main"],
        env,
        port,
        work / "localstack.log",
        "/_localstack/health",
        timeout=120,
    )
    yield emulator
    stop_process(emulator.process)


def emulator_env(endpoint_url: str, access_key: str = "test") -> dict[str, str]:
    """Variables that point boto3 and the AWS provider at an emulator."""
    return clean_env(
        AWS_ACCESS_KEY_ID=access_key,
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL=endpoint_url,
    )


# What a Terraform run leaves in a root: never copied, so a copy starts as a clean clone's.
_TERRAFORM_LEFTOVERS = (
    ".terraform",
    ".terraform-*",
    "*.tfstate*",
    "localstack_providers_override.tf",
)


def copy_terraform_tree(destination: Path) -> Path:
    """Copy modules/ and environments/ (no state, no data dirs) so a run writes nothing here."""
    ignore = shutil.ignore_patterns(*_TERRAFORM_LEFTOVERS)
    for part in ("modules", "environments"):
        shutil.copytree(TERRAFORM_DIR / part, destination / part, ignore=ignore)
    return destination


def copy_repository(destination: Path) -> Path:
    """Copy the repository's files as git sees them (tracked, and untracked but not ignored:
    no caches, environments, build output or Terraform leftovers), for a Task target that
    writes into the tree it runs in (tflocal's provider override in the local root): run in
    the copy, it cannot disturb a test that reads the repository at the same time (`task
    test` runs two workers)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO_ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    return destination


# Terraform's debug log (TF_LOG=debug) has one "HTTP Request Sent" entry per AWS call, from the
# S3 backend and from the provider alike, naming the call's rpc.service and rpc.method.
_LOG_ENTRY_START = re.compile(r"\n(?=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z )")
_SERVICE_PREFIXES = {"Secrets Manager": "secretsmanager"}
# Operations authorized under another action (Service Authorization Reference, Amazon S3).
_AUTHORIZED_AS = {"s3:HeadObject": "s3:GetObject", "s3:ListObjectsV2": "s3:ListBucket"}


def _log_field(entry: str, name: str) -> str | None:
    match = re.search(rf'\b{re.escape(name)}=("(?:[^"\\]|\\.)*"|\S+)', entry)
    return match.group(1).strip('"') if match else None


def aws_actions_called(log: str) -> set[str]:
    """The IAM actions of every AWS call a TF_LOG=debug log shows (sts:GetCallerIdentity too)."""
    actions: set[str] = set()
    for entry in _LOG_ENTRY_START.split(log):
        if "HTTP Request Sent" not in entry:
            continue
        service, operation = _log_field(entry, "rpc.service"), _log_field(entry, "rpc.method")
        assert service, f"an AWS call without rpc.service:\n{entry[:600]}"
        assert operation, f"an AWS call without rpc.method:\n{entry[:600]}"
        prefix = _SERVICE_PREFIXES.get(service, service.lower())
        action = f"{prefix}:{operation}"
        actions.add(_AUTHORIZED_AS.get(action, action))
    return actions
