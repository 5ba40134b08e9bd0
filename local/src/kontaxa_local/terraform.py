"""The Terraform local root, applied to the emulator on the host.

Where an apply's time goes (docs/performance.md, bring-up): Terraform starts the AWS
provider four times per apply (schema, validate, plan, apply) and validates the provider's
configuration in each of the last three walks; the provider's own fixed waits (aws_vpc's
10 s delay after enabling DNS hostnames, the KMS key's propagation checks) were most of the
apply walk (the lifecycle rule's minute was skipped already), and about 250 calls go to the
emulator. Hence the emulator named by AWS_ENDPOINT_URL rather than an `endpoints` block
(whose validation cost about 2 s of CPU per walk), the Go settings below, `terraform init`
only when the configuration changed, the emulator's first calls made while Terraform starts
(`warm`), and `skip_provider_waits` (`_vars`).
"""

import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from kontaxa_local.emulator import emulator_session
from kontaxa_local.errors import StepFailed
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


# An emulator builds a service's backend on the first call to it: in moto, EC2's (its
# regions, zones and default VPC) took 2.5 to 2.8 s here and IAM's (with the AWS managed
# policies loaded) 1.4 to 1.8 s; every other service's first call 0.02 to 0.15 s (its
# request handler and API model loaded). The plan walk makes the IAM and EC2 calls first, one
# after the other (iam:GetUser when the provider is configured; ec2:DescribeAvailabilityZones
# for the EKS subnets, only with create_eks), after the schema and validate walks; the apply
# walk then calls every other service the root uses, each first call on its path. Made while
# Terraform starts its provider, they are off the apply's path (docs/performance.md,
# bring-up). Each is a read that creates nothing.
ACCOUNT_CHECK = ("iam", "get_user")
EKS_ZONES = ("ec2", "describe_availability_zones")
# The other services, by the resources that call them (local/tests/test_terraform.py checks
# that every AWS resource and data source of the modules is covered).
ALWAYS = [
    ("sts", "get_caller_identity"),
    ("s3", "list_buckets"),
    ("secretsmanager", "list_secrets"),
    ("ssm", "describe_parameters"),
]
WITH_EKS = [("eks", "list_clusters"), ("kms", "list_keys"), ("logs", "describe_log_groups")]
WITH_ECR = [("ecr", "describe_repositories")]


def first_calls(variables: dict[str, str]) -> list[tuple[str, str]]:
    """The emulator's first call to each service the root calls with these variables, in
    the order the walks need them."""
    eks = variables.get("create_eks", "true") != "false"  # the root's defaults are true
    ecr = variables.get("create_ecr_repositories", "true") != "false"
    return (
        [ACCOUNT_CHECK]
        + ([EKS_ZONES] if eks else [])
        + ALWAYS
        + (WITH_EKS if eks else [])
        + (WITH_ECR if ecr else [])
    )


class Warming(threading.Thread):
    """`calls` against the emulator, in the background, once `ready` is set (at once
    without it). A call that fails is only noted in `failed` (and the Terraform log): the
    calls read nothing Terraform needs, and Terraform reports a real fault itself."""

    def __init__(
        self,
        endpoint_url: str,
        calls: list[tuple[str, str]],
        ready: threading.Event | None = None,
        ready_timeout: float = 60,
    ) -> None:
        super().__init__(name="warm-emulator", daemon=True)
        self.endpoint_url = endpoint_url
        self.calls = calls
        self.ready = ready
        self.ready_timeout = ready_timeout
        self.done: list[str] = []
        self.failed: dict[str, str] = {}

    def run(self) -> None:
        """Make each call once: one attempt, bounded by its timeouts."""
        if self.ready is not None and not self.ready.wait(self.ready_timeout):
            self.failed["waiting"] = f"the emulator was not ready in {self.ready_timeout:g}s"
            return
        session = emulator_session()
        config = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=60)
        for service, operation in self.calls:
            name = f"{service}.{operation}"
            try:
                client = session.client(
                    service,  # type: ignore[call-overload]  # any service name, not one literal
                    endpoint_url=self.endpoint_url,
                    config=config,
                )
                getattr(client, operation)()
            except (BotoCoreError, ClientError, ValueError) as exc:
                self.failed[name] = str(exc)
            else:
                self.done.append(name)

    def summary(self) -> str:
        """One line for the Terraform log: what was made, what failed and why."""
        if self.is_alive():
            return f"warming the emulator: still running ({', '.join(self.done) or 'no call done'})"
        failed = "; ".join(f"{name} failed: {why}" for name, why in self.failed.items())
        return f"warming the emulator: done {', '.join(self.done) or 'nothing'}" + (
            f"; {failed}" if failed else ""
        )


def warm(
    endpoint_url: str,
    variables: dict[str, str],
    ready: threading.Event | None = None,
    ready_timeout: float = 60,
) -> Warming:
    """Start making the emulator's first calls (`first_calls`) while Terraform starts, as
    soon as `ready` is set (at once without it)."""
    warming = Warming(endpoint_url, first_calls(variables), ready, ready_timeout)
    warming.start()
    return warming


def data_dir(settings: Settings) -> Path:
    """Terraform's working data (modules, provider): in the cache, which local-down keeps
    (local-reset removes it), so a warm bring-up needs no `terraform init`."""
    return settings.state_dir / "cache/terraform"


def environment(settings: Settings, endpoint_url: str | None = None) -> dict[str, str]:
    """Terraform's env: the offline mirror when the machine has it, data dir in the cache,
    no update check (it would call a HashiCorp host), the Go settings above, and the
    emulator at `endpoint_url` for every AWS service (the local root has no endpoints of
    its own)."""
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
    if endpoint_url is not None:
        env["AWS_ENDPOINT_URL"] = endpoint_url
        # No profile file of the developer's either, as in the Terraform tests: only these
        # settings reach the provider (the root gives its key, region and accounts itself).
        env["AWS_CONFIG_FILE"] = os.devnull
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
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


def _vars(extra: dict[str, str]) -> list[str]:
    # Without the settings the AWS provider waits for (the bucket's lifecycle rule about a
    # minute, the VPC's DNS hostnames 10 s, the cluster key's rotation and tags about 4 s each),
    # which nothing on an emulator needs. The Terraform test suite applies them against moto.
    variables = {"skip_provider_waits": "true", **extra}
    return [item for key, value in variables.items() for item in ("-var", f"{key}={value}")]


# What AWS answers a create of something that exists: its message ("... already exists"), or
# its error code when the message says nothing (EntityAlreadyExists, ResourceAlreadyExists...,
# BucketAlreadyOwnedByYou), or, for a subnet, the conflict of its CIDR with an existing one,
# or, for a NAT gateway, its Elastic IP already associated (with the gateway's own twin).
_ALREADY_THERE = re.compile(
    r"already exists|AlreadyExists|AlreadyOwnedByYou|InvalidSubnet\.Conflict"
    r"|Resource\.AlreadyAssociated",
    re.IGNORECASE,
)


def duplicated_by_a_retry(failure: StepFailed) -> bool:
    """Whether an apply to a fresh emulator failed on something that already existed.

    The emulator starts empty for each bring-up, so whatever it already holds is this apply's
    own: a create whose answer the provider did not get in time (moto busy on a loaded
    machine), which the AWS SDK then sent again (seen: EntityAlreadyExists on CreateRole, in
    one of four full test runs on 2026-12-02; on CreateOpenIDConnectProvider, whose moto
    message is only "Unknown", in a full test run on 2026-12-04; as InvalidSubnet.Conflict,
    a subnet's CIDR overlapping its own twin's, in another that day, the four subnets' CIDRs
    being disjoint, as hashicorp/terraform#7516 saw on AWS itself; as Resource.AlreadyAssociated
    on CreateNatGateway, its Elastic IP taken by its twin, in a fresh clone's test run the same
    day; on CreateRole and then on CreateOpenIDConnectProvider in two bring-ups in a row, in a
    full test run later that day). Told by the message or the error code (`...AlreadyExists...`,
    `BucketAlreadyOwnedByYou`, `InvalidSubnet.Conflict`, `Resource.AlreadyAssociated`).
    Nothing else is retried.
    """
    return failure.step == "terraform apply" and bool(_ALREADY_THERE.search(failure.tail))


_FAILED_RESOURCE = re.compile(r"^\s*with (\S.*),$", re.MULTILINE)


def failed_resources(failure: StepFailed) -> frozenset[str]:
    """The addresses of the resources an apply's errors name (Terraform's `with <address>,`
    line under each error, in the failure's tail); empty when none is named."""
    return frozenset(_FAILED_RESOURCE.findall(failure.tail))


def apply(
    executor: Executor,
    settings: Settings,
    endpoint_url: str,
    extra: dict[str, str],
    log: Path,
    *,
    ready: threading.Event | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, float]:
    """`terraform init` (when its inputs changed) and `apply` of the local root against
    `endpoint_url`; returns the seconds each took.

    `ready` and `cancel`, for an emulator still starting: the first calls are made once
    `ready` is set, and Terraform is stopped when `cancel` is (the emulator failed).
    Terraform makes its first call to the emulator seconds after it starts (provider,
    schema, validate walk), and the AWS SDK retries a refused connection meanwhile.
    """
    env = environment(settings, endpoint_url)
    chdir = f"-chdir={TERRAFORM_ROOT}"
    seconds = {}
    started = time.monotonic()
    if executor.dry_run or needs_init(settings):
        executor.run(
            "terraform init",
            ["terraform", chdir, "init", "-no-color", "-input=false"],
            env=env,
            log=log,
            cancel=cancel,
        )
        if not executor.dry_run:  # only a complete init counts
            (data_dir(settings) / INIT_STAMP).write_text(init_digest())
    seconds["terraform init"] = time.monotonic() - started
    started = time.monotonic()
    if not executor.dry_run:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.write(f"terraform apply: the emulator is AWS_ENDPOINT_URL={endpoint_url}\n")
    warming = None if executor.dry_run else warm(endpoint_url, extra, ready, settings.ready_timeout)
    try:
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
                *_vars(extra),
            ],
            env=env,
            log=log,
            timeout=1800,
            cancel=cancel,
        )
    finally:
        if warming is not None:
            with log.open("a") as handle:
                handle.write(warming.summary() + "\n")
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
            *_vars(extra),
        ],
        env=environment(settings, endpoint_url),
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
