"""The Terraform local root, applied to the emulator on the host."""

import json
import os
from pathlib import Path

from kontaxa_local.executor import Executor
from kontaxa_local.settings import TERRAFORM_CLI_CONFIG, TERRAFORM_MIRROR, TERRAFORM_ROOT, Settings


def environment(settings: Settings) -> dict[str, str]:
    """Terraform's env: the offline mirror when the machine has it, data dir under the state."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - only a fallback
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TF_DATA_DIR": str(settings.state_dir / "terraform/data"),
    }
    if TERRAFORM_MIRROR.is_dir():
        env["TF_CLI_CONFIG_FILE"] = str(TERRAFORM_CLI_CONFIG)
    return env


def state_file(settings: Settings) -> Path:
    """Where the local root's state is kept (never in the repository)."""
    return settings.state_dir / "terraform/terraform.tfstate"


def _vars(endpoint_url: str, extra: dict[str, str]) -> list[str]:
    # No bucket lifecycle rule: the AWS provider waits about a minute for it to settle on every
    # apply, most of `local-up`. The Terraform test suite applies the rule against moto.
    variables = {"endpoint_url": endpoint_url, "enable_bucket_lifecycle": "false", **extra}
    return [item for key, value in variables.items() for item in ("-var", f"{key}={value}")]


def apply(
    executor: Executor, settings: Settings, endpoint_url: str, extra: dict[str, str], log: Path
) -> None:
    """`terraform init` and `apply` of the local root against `endpoint_url`."""
    env = environment(settings)
    chdir = f"-chdir={TERRAFORM_ROOT}"
    executor.run(
        "terraform init",
        ["terraform", chdir, "init", "-no-color", "-input=false"],
        env=env,
        log=log,
    )
    executor.run(
        "terraform apply",
        [
            "terraform",
            chdir,
            "apply",
            "-no-color",
            "-auto-approve",
            "-input=false",
            f"-state={state_file(settings)}",
            *_vars(endpoint_url, extra),
        ],
        env=env,
        log=log,
        timeout=1800,
    )


def destroy(
    executor: Executor, settings: Settings, endpoint_url: str, extra: dict[str, str], log: Path
) -> None:
    """`terraform destroy` of the local root."""
    executor.run(
        "terraform destroy",
        [
            "terraform",
            f"-chdir={TERRAFORM_ROOT}",
            "destroy",
            "-no-color",
            "-auto-approve",
            "-input=false",
            f"-state={state_file(settings)}",
            *_vars(endpoint_url, extra),
        ],
        env=environment(settings),
        log=log,
        timeout=1800,
    )


def outputs(settings: Settings) -> dict[str, object]:
    """The root's outputs (empty when not applied)."""
    from kontaxa_local.executor import run_command

    path = state_file(settings)
    if not path.exists():
        return {}
    text = run_command(
        "terraform output",
        ["terraform", f"-chdir={TERRAFORM_ROOT}", "output", "-json", f"-state={path}"],
        env=environment(settings),
    )
    return {k: v.get("value") for k, v in json.loads(text or "{}").items()}
