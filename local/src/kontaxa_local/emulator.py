"""The AWS emulator on the host: moto server (default) or LocalStack under Python 3.13."""

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3

from kontaxa_local.errors import StepFailed
from kontaxa_local.executor import Executor
from kontaxa_local.settings import EMULATOR_CREDENTIALS, REGION, Settings

# localstack-core on the host (Python 3.13 only); the pins beside it keep its
# dependencies at releases it works with (newer ones break it). The Terraform
# tests install the same list (infra/terraform/tests/test_localstack_tflocal.py).
LOCALSTACK_REQUIREMENTS = [
    "localstack-core[runtime]==2026.3.0",
    "cbor2<6",
    "pyopenssl<26",
    "cryptography<47",
    "service-identity",
]
LOCALSTACK_SERVICES = "s3,ssm,secretsmanager,iam,sts,kms"


def emulator_session() -> boto3.session.Session:
    """boto3 with the emulator's dummy credentials, never the developer's AWS profile."""
    return boto3.session.Session(
        aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )


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
        # No DNS server (it would bind port 53), no downloads, no analytics: LocalStack
        # talks to nothing but its clients on loopback.
        "DNS_ADDRESS": "0",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
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
    """A Python 3.13 venv with localstack-core, made once and kept in the state's cache."""
    venv = settings.state_dir / "cache/localstack-venv"
    python = venv / "bin/python"
    ready = venv / ".kontaxa-installed"
    if ready.exists():
        return str(python)
    interpreter = settings.python313 or find_python("3.13")
    if interpreter is None:
        raise StepFailed(
            "start LocalStack",
            "LocalStack on the host needs Python 3.13 (localstack-core runs on no other here); "
            "install it (pyenv install 3.13) or set LOCAL_PYTHON313, or use LOCAL_EMULATOR=moto",
        )
    uv = shutil.which("uv") or "uv"
    executor.run(
        "create the LocalStack venv", [uv, "venv", "--clear", "--python", interpreter, str(venv)]
    )
    executor.run(
        "install localstack-core",
        [uv, "pip", "install", "--python", str(python), *LOCALSTACK_REQUIREMENTS],
        timeout=1200,
    )
    if not executor.dry_run:
        ready.touch()  # only a complete install counts
    return str(python)


def find_python(version: str) -> str | None:
    """A working Python `version` ("3.13"): pyenv's installs first (its shims exist where
    the version is not selected, and fail), then pythonX.Y on PATH, each tried first."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv")))
    name = f"python{version}"
    candidates = sorted(
        glob.glob(str(pyenv_root / f"versions/{version}*/bin/{name}")), reverse=True
    )
    candidates.append(shutil.which(name) or "")
    for candidate in filter(None, candidates):
        try:
            probe = subprocess.run(  # noqa: S603 - an interpreter found above
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.stdout.strip() == version:
            return candidate
    return None
