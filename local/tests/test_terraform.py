"""Terraform's environment and when the runner runs `terraform init`."""

import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from kontaxa_e2e.emulator import moto_server
from kontaxa_local import terraform
from kontaxa_local.errors import StepFailed
from kontaxa_local.executor import Action, DryRunExecutor, Executor
from kontaxa_local.process_runtime import free_port
from kontaxa_local.settings import REPO_ROOT, Settings

TERRAFORM_PROVIDERS = "infra/terraform/environments/local/providers.tf"
EKS_VPC = "infra/terraform/modules/eks/vpc.tf"
PLATFORM_CLUSTER = "infra/terraform/modules/platform/cluster.tf"


def test_terraform_calls_no_update_host_and_runs_with_the_go_settings(tmp_path: Path) -> None:
    env = terraform.environment(Settings(state_dir=tmp_path))
    assert env["CHECKPOINT_DISABLE"] == "1"
    assert (env["GOGC"], env["GOMEMLIMIT"]) == ("off", "400MiB")
    # In the cache, which local-down keeps: a warm bring-up finds the initialised directory.
    assert env["TF_DATA_DIR"] == str(tmp_path / "cache/terraform")
    assert "AWS_ENDPOINT_URL" not in env  # what `terraform output` gets: no emulator


def test_the_emulator_is_named_by_aws_endpoint_url_not_an_endpoints_block(tmp_path: Path) -> None:
    """The AWS provider 5.100 spent about 2 s of CPU validating an `endpoints` block in each
    walk of an apply (validate, plan, apply; TF_LOG=trace, docs/performance.md); it reads
    the SDKs' AWS_ENDPOINT_URL for every service instead (infra/terraform/tests apply the
    root to moto with that variable alone)."""
    env = terraform.environment(Settings(state_dir=tmp_path), "http://127.0.0.1:4566")
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    # A service's own AWS_ENDPOINT_URL_<SERVICE> would beat it (infra/terraform/tests/
    # test_local_tasks.py): the env has none, and no profile file of the developer's is read.
    assert not [name for name in env if name.startswith("AWS_ENDPOINT_URL_")]
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    code = [
        line.split("#")[0].strip()
        for line in (REPO_ROOT / TERRAFORM_PROVIDERS).read_text().splitlines()
    ]
    assert 'provider "aws" {' in code
    assert not [line for line in code if line.startswith("endpoints")]


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of what init reads, so a test may change it."""
    copy = tmp_path / "infra"
    shutil.copytree(REPO_ROOT / "infra/terraform/environments/local", copy / "root")
    shutil.copytree(REPO_ROOT / "infra/terraform/modules", copy / "modules")
    monkeypatch.setattr(terraform, "INIT_INPUTS", (copy / "root", copy / "modules"))
    monkeypatch.setattr(terraform, "REPO_ROOT", tmp_path)
    return copy


def test_init_runs_once_until_an_input_changes(tmp_path: Path, inputs: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    assert terraform.needs_init(settings)  # nothing initialised yet
    terraform.data_dir(settings).mkdir(parents=True)
    (terraform.data_dir(settings) / terraform.INIT_STAMP).write_text(terraform.init_digest())
    assert not terraform.needs_init(settings)
    module = inputs / "modules/irsa/main.tf"
    module.write_text(module.read_text() + "\n# changed\n")
    assert terraform.needs_init(settings)


def test_warming_makes_the_plan_walks_first_calls_on_a_fresh_emulator() -> None:
    with moto_server() as fresh:  # its own: no other test built its backends
        warming = terraform.warm(fresh.url, {})
        warming.join(timeout=120)
    assert not warming.is_alive()
    assert warming.failed == {}
    calls = [f"{service}.{operation}" for service, operation in terraform.first_calls({})]
    assert warming.done == calls
    assert calls[:2] == ["iam.get_user", "ec2.describe_availability_zones"]
    assert warming.summary() == "warming the emulator: done " + ", ".join(calls)


def test_the_zones_are_warmed_only_where_the_root_reads_them() -> None:
    # The account check: every configured provider (allowed_account_ids needs it).
    assert "allowed_account_ids" in (REPO_ROOT / TERRAFORM_PROVIDERS).read_text()
    # The zones: only the EKS network reads them, and create_eks turns it on.
    assert "count = var.create && length(var.availability_zones) == 0 ? 1 : 0" in (
        (REPO_ROOT / EKS_VPC).read_text()
    )
    assert "create                       = var.create_eks" in (
        (REPO_ROOT / PLATFORM_CLUSTER).read_text()
    )
    everything = terraform.first_calls({})
    assert everything[:2] == [terraform.ACCOUNT_CHECK, terraform.EKS_ZONES]
    # The kind runtime and LocalStack apply the root without EKS (LocalStack without ECR).
    kind = terraform.first_calls({"create_eks": "false"})
    assert terraform.EKS_ZONES not in kind
    assert not set(terraform.WITH_EKS) & set(kind)
    assert set(kind) == set(everything) - {terraform.EKS_ZONES, *terraform.WITH_EKS}
    localstack = terraform.first_calls({"create_eks": "false", "create_ecr_repositories": "false"})
    assert set(localstack) == set(kind) - set(terraform.WITH_ECR)


# The AWS service each resource or data source type of the modules calls, by the longest
# key its name equals or starts with (then `_`); the provider-only data sources (partition,
# region, policy documents) call none.
SERVICE_OF = {
    "aws_iam_policy_document": None,
    "aws_partition": None,
    "aws_region": None,
    "aws_caller_identity": "sts",
    "aws_iam": "iam",
    "aws_s3": "s3",
    "aws_ssm": "ssm",
    "aws_secretsmanager": "secretsmanager",
    "aws_ecr": "ecr",
    "aws_eks": "eks",
    "aws_kms": "kms",
    "aws_cloudwatch_log": "logs",
    "aws_availability_zones": "ec2",
    "aws_vpc": "ec2",
    "aws_subnet": "ec2",
    "aws_route": "ec2",
    "aws_internet_gateway": "ec2",
    "aws_nat_gateway": "ec2",
    "aws_eip": "ec2",
    "aws_default_security_group": "ec2",
    "aws_launch_template": "ec2",
}


def test_every_service_the_root_calls_is_warmed() -> None:
    """A resource of a service the warming does not know would pay that service's first
    call on the apply's path: add the service to terraform.first_calls (and here)."""
    sources = [
        *(REPO_ROOT / "infra/terraform/modules").rglob("*.tf"),
        *(REPO_ROOT / "infra/terraform/environments/local").glob("*.tf"),
    ]
    types = {
        match
        for path in sources
        for match in re.findall(r'^(?:resource|data) "(aws_[a-z0-9_]+)"', path.read_text(), re.M)
    }
    assert {"aws_s3_bucket", "aws_eks_cluster"} <= types  # the scan finds them
    services = set()
    for kind in types:
        prefixes = [p for p in SERVICE_OF if kind == p or kind.startswith(p + "_")]
        assert prefixes, f"{kind}: which AWS service does it call? (SERVICE_OF)"
        service = SERVICE_OF[max(prefixes, key=len)]
        if service is not None:
            services.add(service)
    warmed = {service for service, _ in terraform.first_calls({})}
    assert services == warmed


def test_warming_an_emulator_that_is_not_there_is_noted_in_the_log_line() -> None:
    warming = terraform.warm(f"http://127.0.0.1:{free_port()}", {"create_eks": "false"})
    warming.join(timeout=60)
    assert warming.done == []
    calls = terraform.first_calls({"create_eks": "false"})
    assert list(warming.failed) == [f"{service}.{operation}" for service, operation in calls]
    assert warming.summary().startswith("warming the emulator: done nothing; iam.get_user failed: ")


class NoTerraform(Executor):
    """Records the commands instead of running Terraform (no emulator here)."""

    def run(self, step: str, command: list[str], **kwargs: Any) -> str:
        self.actions.append(Action("run", step, list(command)))
        return ""


def test_apply_warms_the_emulator_and_logs_it_but_a_dry_run_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[tuple[str, str]]] = []

    class Recorded(terraform.Warming):
        def start(self) -> None:  # recorded, not run
            started.append(self.calls)

    monkeypatch.setattr(terraform, "Warming", Recorded)
    settings = Settings(state_dir=tmp_path)
    terraform.data_dir(settings).mkdir(parents=True)  # where init would have written
    log = tmp_path / "terraform.log"
    for executor in (DryRunExecutor(), NoTerraform()):
        terraform.apply(executor, settings, "http://127.0.0.1:1", {"create_eks": "false"}, log)
        assert "terraform apply" in [action.what for action in executor.actions]
    assert started == [terraform.first_calls({"create_eks": "false"})]  # the real run only
    assert log.read_text() == (
        "terraform apply: the emulator is AWS_ENDPOINT_URL=http://127.0.0.1:1\n"
        "warming the emulator: done nothing\n"
    )


def test_warming_waits_for_the_emulator_to_be_ready_and_calls_nothing_before() -> None:
    """Beside an emulator still starting, the first calls wait for its readiness; an emulator
    never ready gets no call (one line in the log says why)."""
    never = threading.Event()
    warming = terraform.warm(f"http://127.0.0.1:{free_port()}", {}, never, ready_timeout=0.3)
    warming.join(timeout=30)
    assert warming.done == []
    assert warming.failed == {"waiting": "the emulator was not ready in 0.3s"}
    with moto_server() as fresh:
        ready = threading.Event()
        warming = terraform.warm(fresh.url, {"create_eks": "false"}, ready)
        warming.join(timeout=0.3)
        assert warming.is_alive()  # waiting: nothing called
        assert warming.done == []
        ready.set()
        warming.join(timeout=120)
    calls = terraform.first_calls({"create_eks": "false"})
    assert warming.done == [f"{service}.{operation}" for service, operation in calls]


@pytest.mark.parametrize(
    ("tail", "resent"),
    [
        (
            "Error: creating IAM Role (x): operation error IAM: CreateRole, https response "
            "error StatusCode: 409, EntityAlreadyExists: Role with name x already exists.",
            True,
        ),
        (  # moto's answer to a second CreateOpenIDConnectProvider: the code says it all
            "Error: creating IAM OIDC Provider: operation error IAM: "
            "CreateOpenIDConnectProvider, https response error StatusCode: 409, RequestID: r, "
            "EntityAlreadyExists: Unknown",
            True,
        ),
        ("Error: creating S3 Bucket (b): BucketAlreadyOwnedByYou: ", True),
        (  # moto's answer to a second CreateSubnet of one CIDR (a full test run, 2026-12-04)
            "Error: creating EC2 Subnet: operation error EC2: CreateSubnet, https response "
            "error StatusCode: 400, RequestID: r, api error InvalidSubnet.Conflict: The CIDR "
            "'10.40.16.0/20' conflicts with another subnet",
            True,
        ),
        (  # moto's answer to a second CreateNatGateway (a fresh clone's test run, 2026-12-04)
            "Error: creating EC2 NAT Gateway: operation error EC2: CreateNatGateway, https "
            "response error StatusCode: 400, RequestID: r, api error "
            "Resource.AlreadyAssociated: Resource 127.137.162.1 is already associated.",
            True,
        ),
        ("Error: creating EC2 Subnet: InvalidSubnet.Range: The CIDR is invalid", False),
        ('Error: Invalid value for variable "name_prefix"', False),
        ("Error: creating IAM Role (x): AccessDenied: not allowed", False),
    ],
)
def test_a_create_resent_by_the_aws_sdk_is_told_by_message_or_code(tail: str, resent: bool) -> None:
    assert terraform.duplicated_by_a_retry(StepFailed("terraform apply", "exit 1", tail=tail)) is (
        resent
    )
    # Only the apply is ever done again.
    assert not terraform.duplicated_by_a_retry(StepFailed("terraform init", "exit 1", tail=tail))


def test_the_resources_an_apply_s_errors_name_are_read_from_its_tail() -> None:
    """Terraform names each failed resource in a `with <address>,` line under its error."""
    tail = (
        "Error: creating IAM OIDC Provider: EntityAlreadyExists: Unknown\n\n"
        "  with module.platform.module.eks.aws_iam_openid_connect_provider.this[0],\n"
        '  on ../../modules/eks/main.tf line 103, in resource "x" "this":\n\n'
        "Error: creating IAM Role (r): EntityAlreadyExists: Role with name r already exists.\n\n"
        '  with module.platform.module.grafana_irsa.aws_iam_role.this["a b"],\n'
    )
    failure = StepFailed("terraform apply", "exit 1", tail=tail)
    assert terraform.failed_resources(failure) == {
        "module.platform.module.eks.aws_iam_openid_connect_provider.this[0]",
        'module.platform.module.grafana_irsa.aws_iam_role.this["a b"]',
    }
    assert terraform.failed_resources(StepFailed("terraform apply", "exit 1", tail="x")) == set()
