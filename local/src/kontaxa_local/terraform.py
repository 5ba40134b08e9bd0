"""The Terraform local root, applied to the emulator on the host.

Where an apply's time goes (docs/performance.md, bring-up): Terraform starts the AWS
provider four times per apply (schema, validate, plan, apply), and each start spends about
3.5 s of CPU building the provider's schema (a third of it in Go's garbage collector); the
rest is the provider's own fixed waits (aws_vpc's 10 s delay after enabling DNS hostnames, the KMS
key's propagation checks) and about 250 calls to the emulator. Hence the Go settings below,
and `terraform init` only when the configuration changed.
"""

import hashlib
import json
import os
import time
from pathlib import Path

from kontaxa_local.executor import Executor
from kontaxa_local.settings import (
    REPO_ROOT,
    TERRAFORM_CLI_CONFIG,
    TERRAFORM_MIRROR,
    TERRAFORM_ROOT,
    Settings,
)

# Terraform and the provider are short-lived Go processes: with the collector off until the
# heap reaches the limit, an apply takes a third less CPU (29.6 s -> 19.5 s here) for about
# 0.3 GB more memory at the peak. GOMEMLIMIT keeps the collector working above that.
GO_RUNTIME = {"GOGC": "off", "GOMEMLIMIT": "400MiB"}
# What `terraform init` depends on: a change to any of these runs it again.
INIT_INPUTS = (TERRAFORM_ROOT, REPO_ROOT / "infra/terraform/modules", TERRAFORM_CLI_CONFIG)
INIT_STAMP = "kontaxa-init.sha256"


def data_dir(settings: Settings) -> Path:
    """Terraform's working data (modules, provider): in the cache, which local-down keeps
    (local-reset removes it), so a warm bring-up needs no `terraform init`."""
    return settings.state_dir / "cache/terraform"


def environment(settings: Settings) -> dict[str, str]:
    """Terraform's env: the offline mirror when the machine has it, data dir in the cache,
    no update check (it would call a HashiCorp host), the Go settings above."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - only a fallback
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TF_DATA_DIR": str(data_dir(settings)),
        "CHECKPOINT_DISABLE": "1",
        **GO_RUNTIME,
    }
    if TERRAFORM_MIRROR.is_dir():
        env["TF_CLI_CONFIG_FILE"] = str(TERRAFORM_CLI_CONFIG)
    return env


def init_digest() -> str:
    """Digest of everything `terraform init` reads: the root, the modules, the CLI config."""
    digest = hashlib.sha256()
    for base in INIT_INPUTS:
        files = sorted(base.rglob("*")) if base.is_dir() else [base]
        for path in files:
            if path.is_file() and ".terraform" not in path.parts:
                digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def needs_init(settings: Settings) -> bool:
    """Whether the cached working directory is missing or was made for other inputs."""
    stamp = data_dir(settings) / INIT_STAMP
    return not stamp.is_file() or stamp.read_text() != init_digest()


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
) -> dict[str, float]:
    """`terraform init` (when its inputs changed) and `apply` of the local root against
    `endpoint_url`; returns the seconds each took."""
    env = environment(settings)
    chdir = f"-chdir={TERRAFORM_ROOT}"
    seconds = {}
    started = time.monotonic()
    if executor.dry_run or needs_init(settings):
        executor.run(
            "terraform init",
            ["terraform", chdir, "init", "-no-color", "-input=false"],
            env=env,
            log=log,
        )
        if not executor.dry_run:  # only a complete init counts
            (data_dir(settings) / INIT_STAMP).write_text(init_digest())
    seconds["terraform init"] = time.monotonic() - started
    started = time.monotonic()
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
    seconds["terraform apply"] = time.monotonic() - started
    return seconds


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
