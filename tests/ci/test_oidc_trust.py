"""The OIDC trust in infra/terraform matches what the workflows present.

environments/aws is planned by scripts/ci/terraform-plan.sh (the plan job's own script)
against a moto server holding what the root looks up (the EKS cluster and its OIDC provider,
the state bucket), with the repository's values: terraform.tfvars.example. Each role's trust
policy is read from that plan as Terraform rendered it, and every `sub` each role-assuming
job can present (scripts/ci/oidc_subjects.py) must be let in.
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
STATE_BUCKET = "kontaxa-tfstate-ci-test"
OWNER_ID, REPOSITORY_ID = "1111111", "2222222"
# With the default create_github_oidc_provider = true, the provider's ARN is known only after
# apply, so Terraform renders the trust document then. Naming an existing provider renders it
# at plan time; the sub conditions do not depend on it.
KNOWN_PROVIDER = (
    "create_github_oidc_provider = false\n"
    f'github_oidc_provider_arn    = "arn:aws:iam::{ACCOUNT}:oidc-provider/'
    f'{oidc_subjects.ISSUER}"\n'
)
# Roles the workflows use that infra/terraform does not define yet. A strict xfail: the day
# the role exists and trusts the job, the test passes, fails as XPASS, and this entry goes.
PENDING_ROLES = {
    "AWS_PLAN_ROLE_ARN": (
        "infra/terraform has no read-only plan role (kontaxa-github-plan) trusting "
        f"repo:{REPOSITORY}:pull_request: terraform.yaml's plan job would be refused"
    ),
}
ROLE_USES = oidc_subjects.Analysis(oidc_subjects.load_workflows(), REPOSITORY).role_uses()


def _params() -> list[Any]:
    params = []
    for use in ROLE_USES:
        marks = []
        if use.role_variable in PENDING_ROLES:
            marks.append(pytest.mark.xfail(strict=True, reason=PENDING_ROLES[use.role_variable]))
        params.append(pytest.param(use, id=use.label, marks=marks))
    return params


@dataclass
class RenderedPlan:
    """What scripts/ci/terraform-plan.sh produced: the plan as JSON and the job summary."""

    plan: dict[str, Any]
    summary: str

    def trust(self, role_name: str) -> dict[str, Any]:
        """The assume-role policy of the planned aws_iam_role named `role_name`."""
        roles = {
            change["change"]["after"]["name"]: change["change"]["after"]
            for change in self.plan["resource_changes"]
            if change["type"] == "aws_iam_role" and change["change"]["after"]
        }
        assert role_name in roles, (
            f"environments/aws plans no IAM role named {role_name}; roles: {sorted(roles)}"
        )
        policy = roles[role_name].get("assume_role_policy")
        assert isinstance(policy, str), f"{role_name}: trust policy unknown at plan time"
        document: dict[str, Any] = json.loads(policy)
        return document


@pytest.fixture(scope="module")
def emulated_account(moto_server: Any) -> Any:
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
    boto3.client("iam", **session).create_open_id_connect_provider(
        Url=cluster["identity"]["oidc"]["issuer"],
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["9" * 40],
    )
    boto3.client("s3", **session).create_bucket(Bucket=STATE_BUCKET)
    return moto_server


def _plan(
    emulator: Any, work: Path, plugin_cache: dict[str, str], extra_tfvars: str = ""
) -> RenderedPlan:
    """Run scripts/ci/terraform-plan.sh as the plan job does, against the emulator."""
    lock = (AWS_ROOT / ".terraform.lock.hcl").read_bytes()
    backend = (
        f'bucket         = "{STATE_BUCKET}"\n'
        'key            = "kontaxa/aws/terraform.tfstate"\n'
        f'region         = "{REGION}"\n'
        f'endpoints      = {{ s3 = "{emulator.endpoint_url}" }}\n'
        "use_path_style = true\n"
    )
    summary = work / "summary.md"
    env = {
        **terraform_harness.emulator_env(emulator.endpoint_url),
        **plugin_cache,
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
    return RenderedPlan(plan, summary.read_text())


@pytest.fixture(scope="module")
def aws_plan(
    emulated_account: Any, tmp_path_factory: pytest.TempPathFactory, plugin_cache: dict[str, str]
) -> RenderedPlan:
    """environments/aws planned with the repository's values (terraform.tfvars.example)."""
    return _plan(emulated_account, tmp_path_factory.mktemp("aws-plan"), plugin_cache)


@pytest.fixture(scope="module")
def aws_plan_with_ids(
    emulated_account: Any, tmp_path_factory: pytest.TempPathFactory, plugin_cache: dict[str, str]
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
