"""environments/local applied through tflocal to LocalStack (localstack-core on the host).

LocalStack's host runtime needs Python 3.13 and the package index (for localstack-core);
where either is missing the module is skipped with the reason (conftest's `localstack`). Its
free edition has no EKS or ECR, so the run uses environments/local/localstack.tfvars (the kind
issuer, ECR repositories only named), exactly as `task tflocal:plan` does. Tests run in order:
apply (fixture), checks, re-plan, destroy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from .conftest import (
    REGION,
    TERRAFORM_WRAPPER,
    Emulator,
    Terraform,
    copy_terraform_tree,
    emulator_env,
    task_vars,
    uv_binary,
)

# The first test also carries the module's setup (emulator, install, apply): more than the
# suite's default per-test timeout on a machine whose caches are cold.
pytestmark = [pytest.mark.usefixtures("terraform_available"), pytest.mark.timeout(900)]

ISSUER = "https://oidc.kind.kontaxa.local"
# LocalStack's default account: the one the key "test" (the runner's and the pods') selects.
LOCALSTACK_ACCOUNT = "000000000000"
BUCKET = f"kontaxa-demo-{LOCALSTACK_ACCOUNT}-{REGION}"


@dataclass
class AppliedThroughTflocal:
    """The local root applied by tflocal: the runner, its variables and the emulator."""

    terraform: Terraform
    variables: list[str]
    emulator: Emulator
    outputs: dict[str, Any]

    def client(self, service: str) -> Any:
        """A boto3 client on LocalStack, in its default account."""
        return boto3.client(
            service,
            endpoint_url=self.emulator.endpoint_url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


@pytest.fixture(scope="module")
def applied(
    localstack: Emulator, tmp_path_factory: pytest.TempPathFactory, plugin_cache: dict[str, str]
) -> AppliedThroughTflocal:
    """tflocal init and apply of a copy of the local root (tflocal writes its override there)."""
    uv = uv_binary()
    assert uv is not None
    work = tmp_path_factory.mktemp("tflocal")
    root = copy_terraform_tree(work / "tree") / "environments" / "local"
    env = {
        **emulator_env(localstack.endpoint_url),
        **plugin_cache,
        # The knobs `task tflocal:plan` sets: path-style S3 on loopback (no
        # *.localhost.localstack.cloud lookups) and our terraform wrapper.
        "S3_HOSTNAME": "127.0.0.1",
        "TF_CMD": str(TERRAFORM_WRAPPER),
        "DISABLE_DEPRECATION_NOTICE": "1",
    }
    tflocal = (
        uv,
        "tool",
        "run",
        "--from",
        f"terraform-local=={task_vars()['TERRAFORM_LOCAL_VERSION']}",
        "tflocal",
    )
    terraform = Terraform(root, work / ".terraform", env=env, command=tflocal)
    terraform.run("init", f"-backend-config=path={work / 'terraform.tfstate'}")
    variables = ["-var-file=localstack.tfvars"]
    terraform.run("apply", "-auto-approve", *variables)
    outputs = Terraform(root, work / ".terraform", env=env).output()
    return AppliedThroughTflocal(terraform, variables, localstack, outputs)


def test_tflocal_wrote_its_override_and_removed_it(applied: AppliedThroughTflocal) -> None:
    assert not (applied.terraform.config_dir / "localstack_providers_override.tf").exists()
    assert applied.outputs["platform"]["account_id"] == LOCALSTACK_ACCOUNT


def test_parameters_and_secrets_exist(applied: AppliedThroughTflocal) -> None:
    ssm = applied.client("ssm")
    found = {
        p["Name"]: p
        for p in ssm.get_parameters_by_path(
            Path="/kontaxa/app", Recursive=True, WithDecryption=True
        )["Parameters"]
    }
    assert {name: p["Type"] for name, p in found.items()} == {
        "/kontaxa/app/welcome-message": "String",
        "/kontaxa/app/feature-flags": "String",
        "/kontaxa/app/db/password": "SecureString",
    }
    assert found["/kontaxa/app/welcome-message"]["Value"] == "Welcome to Kontaxa"
    assert len(found["/kontaxa/app/db/password"]["Value"]) == 40
    secrets = applied.client("secretsmanager")
    assert len(secrets.get_secret_value(SecretId="kontaxa/service-token")["SecretString"]) == 40
    keys = json.loads(secrets.get_secret_value(SecretId="kontaxa/api-keys")["SecretString"])
    assert set(keys) == {"primary", "secondary"}


def test_bucket_is_encrypted_private_and_versioned(applied: AppliedThroughTflocal) -> None:
    s3 = applied.client("s3")
    (rule,) = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(
        block[key]
        for key in (
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        )
    )
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"


def test_irsa_roles_trust_the_given_issuer(applied: AppliedThroughTflocal) -> None:
    iam = applied.client("iam")
    host = ISSUER.removeprefix("https://")
    provider_arn = f"arn:aws:iam::{LOCALSTACK_ACCOUNT}:oidc-provider/{host}"
    assert applied.outputs["platform"]["cluster_oidc_provider_arn"] == provider_arn
    trust = iam.get_role(RoleName="kontaxa-aux-service")["Role"]["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(trust)
    (statement,) = trust["Statement"]
    assert statement["Principal"]["Federated"] == provider_arn
    assert statement["Condition"]["StringEquals"] == {
        f"{host}:sub": "system:serviceaccount:kontaxa:aux-service",
        f"{host}:aud": "sts.amazonaws.com",
    }
    # No ECR here: the CI role still names the four repositories.
    assert applied.outputs["platform"]["ecr_repository_urls"] == {}
    policy_arn = f"arn:aws:iam::{LOCALSTACK_ACCOUNT}:policy/kontaxa-github-ci-ecr-push"
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"][
        "Document"
    ]
    if isinstance(document, str):
        document = json.loads(document)
    push = next(s for s in document["Statement"] if s["Sid"] == "PushToTheseRepositories")
    assert len(push["Resource"]) == 4


def test_replan_shows_no_changes(applied: AppliedThroughTflocal) -> None:
    result = applied.terraform.run("plan", "-detailed-exitcode", *applied.variables, check=False)
    assert result.returncode == 0, (
        f"plan after apply is not clean:\n{result.stdout[-6000:]}{result.stderr}"
    )


def test_destroy_leaves_nothing(applied: AppliedThroughTflocal) -> None:
    applied.terraform.run("destroy", "-auto-approve", *applied.variables)
    iam = applied.client("iam")
    assert [
        r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("kontaxa")
    ] == []
    assert [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]] == []
    assert applied.client("s3").list_buckets()["Buckets"] == []
    assert (
        applied.client("ssm").get_parameters_by_path(Path="/kontaxa", Recursive=True)["Parameters"]
        == []
    )
    assert applied.client("secretsmanager").list_secrets()["SecretList"] == []
