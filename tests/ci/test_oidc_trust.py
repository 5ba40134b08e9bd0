"""The OIDC trust in infra/terraform matches what the workflows present, and the plan role
allows what the plan job calls, no more.

environments/aws is planned by scripts/ci/terraform-plan.sh (the plan job's own script)
against a moto server holding what the root looks up (the EKS cluster and its OIDC provider,
the state bucket), with the repository's values: terraform.tfvars.example. Each role's trust
policy is read from that plan as Terraform rendered it, and every `sub` each role-assuming
job can present (scripts/ci/oidc_subjects.py) must be let in. Terraform's debug log of the same
run lists every AWS call of the plan job (backend and provider); the plan role's policy, as
planned, must grant exactly those actions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from .conftest import REPO_ROOT, oidc_subjects, output_of, run, terraform_harness

pytestmark = pytest.mark.usefixtures("terraform_available")

AWS_ROOT = REPO_ROOT / "infra" / "terraform" / "environments" / "aws"
EXAMPLE_TFVARS = (AWS_ROOT / "terraform.tfvars.example").read_text()


def _example_value(name: str) -> str:
    """A string variable of terraform.tfvars.example: the repository's values."""
    match = re.search(rf'^{name}\s*=\s*"([^"]+)"', EXAMPLE_TFVARS, re.M)
    assert match, f"terraform.tfvars.example sets no {name}; the trust check needs it"
    return match.group(1)


REPOSITORY = _example_value("github_repository")
CLUSTER = _example_value("cluster_name")
ACCOUNT = terraform_harness.EMULATOR_ACCOUNT
REGION = terraform_harness.REGION
# backend.hcl.example's naming, which the plan role assumes when state_bucket is not set.
STATE_BUCKET = f"kontaxa-tfstate-{ACCOUNT}-{REGION}"
STATE_KEY = "kontaxa/aws/terraform.tfstate"
PLAN_ROLE = oidc_subjects.ROLE_VARIABLES["AWS_PLAN_ROLE_ARN"]
OWNER_ID, REPOSITORY_ID = "1111111", "2222222"
# With the default create_github_oidc_provider = true, the provider's ARN is known only after
# apply, so Terraform renders the trust document then. Naming an existing provider renders it
# at plan time; the sub conditions do not depend on it.
KNOWN_PROVIDER = (
    "create_github_oidc_provider = false\n"
    f'github_oidc_provider_arn    = "arn:aws:iam::{ACCOUNT}:oidc-provider/'
    f'{oidc_subjects.ISSUER}"\n'
)
ROLE_USES = oidc_subjects.Analysis(oidc_subjects.load_workflows(), REPOSITORY).role_uses()


def _params() -> list[Any]:
    return [pytest.param(use, id=use.label) for use in ROLE_USES]


@dataclass
class RenderedPlan:
    """What scripts/ci/terraform-plan.sh produced: the plan as JSON, the job summary, and the
    IAM actions of the AWS calls it made (from Terraform's debug log)."""

    plan: dict[str, Any]
    summary: str
    actions_called: set[str]

    def _document(self, resource_type: str, name: str, attribute: str) -> dict[str, Any]:
        """An IAM document attribute of the planned resource of that type named `name`."""
        planned = {
            change["change"]["after"]["name"]: change["change"]["after"]
            for change in self.plan["resource_changes"]
            if change["type"] == resource_type and change["change"]["after"]
        }
        assert name in planned, (
            f"environments/aws plans no {resource_type} named {name}; found: {sorted(planned)}"
        )
        text = planned[name].get(attribute)
        assert isinstance(text, str), f"{name}: {attribute} unknown at plan time"
        document: dict[str, Any] = json.loads(text)
        return document

    def trust(self, role_name: str) -> dict[str, Any]:
        """The assume-role policy of the planned aws_iam_role named `role_name`."""
        return self._document("aws_iam_role", role_name, "assume_role_policy")

    def policy(self, policy_name: str) -> dict[str, Any]:
        """The document of the planned aws_iam_policy named `policy_name`."""
        return self._document("aws_iam_policy", policy_name, "policy")


@dataclass
class EmulatedAccount:
    """The moto server, and the ARNs of the cluster and cluster provider the aws root looks up."""

    emulator: Any
    cluster_arn: str
    cluster_provider_arn: str


@pytest.fixture(scope="module")
def emulated_account(moto_server: Any) -> EmulatedAccount:
    """The moto server with what environments/aws reads: cluster, its provider, state bucket."""
    session = {
        "endpoint_url": moto_server.endpoint_url,
        "region_name": REGION,
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    cluster = boto3.client("eks", **session).create_cluster(
        name=CLUSTER,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": []},
    )["cluster"]
    provider = boto3.client("iam", **session).create_open_id_connect_provider(
        Url=cluster["identity"]["oidc"]["issuer"],
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["9" * 40],
    )
    boto3.client("s3", **session).create_bucket(Bucket=STATE_BUCKET)
    return EmulatedAccount(moto_server, cluster["arn"], provider["OpenIDConnectProviderArn"])


def _plan(
    account: EmulatedAccount, work: Path, plugin_cache: dict[str, str], extra_tfvars: str = ""
) -> RenderedPlan:
    """Run scripts/ci/terraform-plan.sh as the plan job does, against the emulator."""
    lock = (AWS_ROOT / ".terraform.lock.hcl").read_bytes()
    endpoint_url = account.emulator.endpoint_url
    backend = (
        f'bucket         = "{STATE_BUCKET}"\n'
        f'key            = "{STATE_KEY}"\n'
        f'region         = "{REGION}"\n'
        f'endpoints      = {{ s3 = "{endpoint_url}" }}\n'
        "use_path_style = true\n"
    )
    summary = work / "summary.md"
    log = work / "terraform.log"
    env = {
        **terraform_harness.emulator_env(endpoint_url),
        **plugin_cache,
        # Every AWS call, of init and plan, of the backend and the provider.
        "TF_LOG": "debug",
        "TF_LOG_PATH": str(log),
        "TF_DATA_DIR": str(work / ".terraform"),
        "PLAN_DIR": str(work / "plan"),
        "GITHUB_STEP_SUMMARY": str(summary),
        "TF_AWS_BACKEND_HCL": backend,
        "TF_AWS_TFVARS": EXAMPLE_TFVARS + KNOWN_PROVIDER + extra_tfvars,
    }
    result = run([REPO_ROOT / "scripts/ci/terraform-plan.sh"], env=env, timeout=900)
    assert result.returncode == 0, output_of(result)
    assert (AWS_ROOT / ".terraform.lock.hcl").read_bytes() == lock, "the plan rewrote the lock"
    plan = json.loads((work / "plan" / "plan.json").read_text())
    actions = terraform_harness.aws_actions_called(log.read_text())
    return RenderedPlan(plan, summary.read_text(), actions)


@pytest.fixture(scope="module")
def aws_plan(
    emulated_account: EmulatedAccount,
    tmp_path_factory: pytest.TempPathFactory,
    plugin_cache: dict[str, str],
) -> RenderedPlan:
    """environments/aws planned with the repository's values (terraform.tfvars.example)."""
    return _plan(emulated_account, tmp_path_factory.mktemp("aws-plan"), plugin_cache)


@pytest.fixture(scope="module")
def aws_plan_with_ids(
    emulated_account: EmulatedAccount,
    tmp_path_factory: pytest.TempPathFactory,
    plugin_cache: dict[str, str],
) -> RenderedPlan:
    """The same, with the repository's numeric ids (the immutable sub form) configured."""
    ids = f'github_repository_owner_id = "{OWNER_ID}"\ngithub_repository_id = "{REPOSITORY_ID}"\n'
    return _plan(emulated_account, tmp_path_factory.mktemp("aws-plan-ids"), plugin_cache, ids)


def test_the_plan_job_script_writes_the_plan_into_the_summary(aws_plan: RenderedPlan) -> None:
    assert aws_plan.summary.startswith("### terraform plan: infra/terraform/environments/aws")
    assert re.search(
        r"^\*\*Plan: \d+ to add, 0 to change, 0 to destroy\.\*\*$", aws_plan.summary, re.M
    )
    assert "```text" in aws_plan.summary
    assert "module.platform.module.github_oidc.aws_iam_role.this" in aws_plan.summary
    assert aws_plan.plan["format_version"]


@pytest.mark.parametrize("use", _params())
def test_every_role_assuming_job_is_trusted(use: Any, aws_plan: RenderedPlan) -> None:
    trust = aws_plan.trust(oidc_subjects.ROLE_VARIABLES[use.role_variable])
    subjects = use.subjects(REPOSITORY)
    assert subjects, f"{use.label}: no context assumes the role; the analysis found nothing"
    refusals = [
        refusal
        for subject in subjects
        if (refusal := oidc_subjects.trust_refusal(trust, subject, use.audience))
    ]
    assert refusals == [], f"{use.label} would be refused:\n" + "\n".join(refusals)


@pytest.mark.parametrize("use", _params())
def test_the_immutable_repository_form_is_trusted_too(
    use: Any, aws_plan_with_ids: RenderedPlan
) -> None:
    trust = aws_plan_with_ids.trust(oidc_subjects.ROLE_VARIABLES[use.role_variable])
    owner, name = REPOSITORY.split("/")
    for repository in (REPOSITORY, f"{owner}@{OWNER_ID}/{name}@{REPOSITORY_ID}"):
        for subject in use.subjects(repository):
            assert oidc_subjects.trust_refusal(trust, subject, use.audience) is None, subject


def test_the_ci_role_trusts_nothing_the_workflows_do_not_need(aws_plan: RenderedPlan) -> None:
    """The check has teeth: the rendered trust refuses the subjects no publishing job has."""
    trust = aws_plan.trust(oidc_subjects.ROLE_VARIABLES["AWS_CI_ROLE_ARN"])
    for claim in (
        "pull_request",
        "ref:refs/heads/feature",
        "environment:staging",
        "ref:refs/tags/v1",
    ):
        assert oidc_subjects.trust_refusal(trust, f"repo:{REPOSITORY}:{claim}") is not None, claim
    other = f"repo:someone/{REPOSITORY.split('/')[1]}:ref:refs/heads/main"
    assert oidc_subjects.trust_refusal(trust, other) is not None


def test_the_plan_role_trusts_pull_requests_only(aws_plan: RenderedPlan) -> None:
    """It runs code nobody has reviewed: no branch, tag or environment may use it."""
    trust = aws_plan.trust(PLAN_ROLE)
    assert oidc_subjects.trust_refusal(trust, f"repo:{REPOSITORY}:pull_request") is None
    for claim in (
        "ref:refs/heads/main",
        "ref:refs/heads/feature",
        "environment:production",
        "ref:refs/tags/v1",
    ):
        assert oidc_subjects.trust_refusal(trust, f"repo:{REPOSITORY}:{claim}") is not None, claim
    other = f"repo:someone/{REPOSITORY.split('/')[1]}:pull_request"
    assert oidc_subjects.trust_refusal(trust, other) is not None


def test_the_plan_role_reads_the_state_object_and_the_lookups_only(
    aws_plan: RenderedPlan, emulated_account: EmulatedAccount
) -> None:
    statements = {s["Sid"]: s for s in aws_plan.policy(f"{PLAN_ROLE}-read")["Statement"]}
    granted = {
        sid: (_as_set(s["Action"]), _as_set(s["Resource"]), s.get("Condition"))
        for sid, s in statements.items()
    }
    assert all(s["Effect"] == "Allow" for s in statements.values())
    assert granted == {
        "ReadTheStateObject": (
            {"s3:GetObject"},
            {f"arn:aws:s3:::{STATE_BUCKET}/{STATE_KEY}"},
            None,
        ),
        "ListOnlyTheStateKey": (
            {"s3:ListBucket"},
            {f"arn:aws:s3:::{STATE_BUCKET}"},
            {"StringEquals": {"s3:prefix": STATE_KEY}},
        ),
        "DescribeTheLookedUpClusters": (
            {"eks:DescribeCluster"},
            {emulated_account.cluster_arn},
            None,
        ),
        "ReadTheLookedUpOidcProviders": (
            {"iam:GetOpenIDConnectProvider"},
            {emulated_account.cluster_provider_arn},
            None,
        ),
        # No resource type in the Service Authorization Reference: "*" is all AWS accepts.
        "GenerateRandomPasswords": ({"secretsmanager:GetRandomPassword"}, {"*"}, None),
    }


def test_the_plan_role_grants_exactly_what_the_plan_job_calls(aws_plan: RenderedPlan) -> None:
    """Terraform's log of the plan job (init and plan, backend and provider): every call is
    granted, and every grant is used. sts:GetCallerIdentity needs no permission. The backend's
    listing of workspaces (prefix env:/) falls outside the prefix condition: AWS refuses it and
    Terraform then knows only the default workspace."""
    policy = aws_plan.policy(f"{PLAN_ROLE}-read")
    granted = {action for s in policy["Statement"] for action in _as_set(s["Action"])}
    called = aws_plan.actions_called - {"sts:GetCallerIdentity"}
    assert called == granted, (
        f"called, not granted: {sorted(called - granted)}; "
        f"granted, not called: {sorted(granted - called)}"
    )
    assert not any(a.startswith(("secretsmanager:GetSecret", "ssm:GetParam")) for a in called)


def _as_set(value: Any) -> set[str]:
    return set(value) if isinstance(value, list) else {value}
