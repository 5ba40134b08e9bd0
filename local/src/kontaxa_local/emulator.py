"""The AWS emulator on the host: moto server (default) or LocalStack under Python 3.13."""

import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kontaxa_local.errors import StepFailed
from kontaxa_local.executor import Executor
from kontaxa_local.settings import EMULATOR_CREDENTIALS, Settings

LOCALSTACK_PINS = ["cbor2<6", "pyopenssl<26", "cryptography<47", "service-identity"]
LOCALSTACK_SERVICES = "s3,ssm,secretsmanager,iam,sts,kms"


@dataclass
class EmulatorPlan:
    """How to start the chosen emulator and how to know it is ready."""

    kind: str
    command: list[str]
    env: dict[str, str]
    ready_path: str
    # Features the emulator lacks, turned off in the Terraform local root.
    terraform_vars: dict[str, str]


def plan(settings: Settings, port: int, executor: Executor) -> EmulatorPlan:
    """The command and environment for the configured emulator on 127.0.0.1:`port`."""
    base_env = {"PATH": "/usr/bin:/bin", **EMULATOR_CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}
    if settings.emulator == "moto":
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        # The EKS roles attach AWS managed policies, which moto knows only when asked.
        env = {**base_env, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
        return EmulatorPlan("moto", command, env, "/moto-api/", {})
    python = _localstack_python(settings, executor)
    data = settings.state_dir / "localstack"
    env = {
        **base_env,
        "OVERRIDE_IN_DOCKER": "0",
        "FILESYSTEM_ROOT": str(data),
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "SERVICES": LOCALSTACK_SERVICES,
        "SKIP_INFRA_DOWNLOADS": "1",
        "DISABLE_EVENTS": "1",
        "S3_HOSTNAME": "127.0.0.1",
    }
    if settings.localstack_auth_token:
        env["LOCALSTACK_AUTH_TOKEN"] = settings.localstack_auth_token
    return EmulatorPlan(
        "localstack",
        [python, "-m", "localstack.runtime.main"],
        env,
        "/_localstack/health",
        {"create_eks": "false", "create_ecr_repositories": "false"},
    )


def _localstack_python(settings: Settings, executor: Executor) -> str:
    """A Python 3.13 venv with localstack-core, made once under the state directory."""
    venv = settings.state_dir / "localstack-venv"
    python = venv / "bin/python"
    if python.exists():
        return str(python)
    interpreter = settings.python313 or find_python313()
    if interpreter is None:
        raise StepFailed(
            "start LocalStack",
            "LocalStack on the host needs Python 3.13 (localstack-core runs on no other here); "
            "install it (pyenv install 3.13) or set LOCAL_PYTHON313, or use LOCAL_EMULATOR=moto",
        )
    uv = shutil.which("uv") or "uv"
    executor.run("create the LocalStack venv", [uv, "venv", "--python", interpreter, str(venv)])
    executor.run(
        "install localstack-core",
        [
            uv,
            "pip",
            "install",
            "--python",
            str(python),
            f"localstack-core=={settings.localstack_version}",
            *LOCALSTACK_PINS,
        ],
        timeout=1200,
    )
    return str(python)


def find_python313() -> str | None:
    """A Python 3.13 interpreter: on PATH, or one that pyenv knows."""
    found = shutil.which("python3.13")
    if found:
        return found
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            prefix = subprocess.run(  # noqa: S603
                [pyenv, "prefix", "3.13"], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
        except (subprocess.SubprocessError, OSError):
            return None
        candidate = Path(prefix) / "bin/python3.13"
        if candidate.exists():
            return str(candidate)
    return None


def is_ready(url: str, path: str) -> bool:
    """Whether the emulator answers its health path."""
    try:
        with urllib.request.urlopen(url + path, timeout=2) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False
