"""environments/local applied for real to a fresh moto server, checked with boto3,
re-planned to "No changes" and destroyed to nothing left. The aws root is planned
against the same API to prove it plans with the real provider and no code change.

The tests of this module run in order: apply (fixture), checks, aws plan, re-plan, destroy.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
import yaml

from .conftest import (
    AWS_ROOT,
    EMULATOR_ACCOUNT,
    LOCAL_ROOT,
    REGION,
    REPO_ROOT,
    Emulator,
    Terraform,
    aws_actions_called,
    clean_env,
    copy_terraform_tree,
    emulator_env,
)
from .policy_rules import policy_violations

# The first test also carries the module's setup (emulator, install, apply): more than the
# suite's default per-test timeout on a machine whose caches are cold.
pytestmark = [pytest.mark.usefixtures("terraform_available"), pytest.mark.timeout(600)]

PREFIX = "/kontaxa/app"
BUCKET = f"kontaxa-demo-{EMULATOR_ACCOUNT}-{REGION}"
REPOSITORIES = {
    "kontaxa/main-api",
    "kontaxa/aux-service",
    "kontaxa/secrets-provider",
    "kontox-goldenimage",
}
GITHUB_SUB = "repo:kontaxa/kontaxa:ref:refs/heads/main"
# The state the plan role reads by default: backend.hcl.example's bucket naming and key.
STATE_OBJECT_ARN = (
    f"arn:aws:s3:::kontaxa-tfstate-{EMULATOR_ACCOUNT}-{REGION}/kontaxa/aws/terraform.tfstate"
)


@dataclass
class Applied:
    """The applied local root: terraform on it (with the emulator's URL in its env, the root's
    only setting), the emulator, its state."""

    terraform: Terraform
    emulator: Emulator
    state_path: Path
    outputs: dict[str, Any]

    def client(self, service: str) -> Any:
        """A boto3 client on the emulator."""
        return boto3.client(
            service,
            endpoint_url=self.emulator.endpoint_url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


@pytest.fixture(scope="module")
def applied(
    moto_server: Emulator,
    tmp_path_factory: pytest.TempPathFactory,
    plugin_cache: dict[str, str],
) -> Applied:
    """Init and apply environments/local to the module's moto server (state kept in tmp)."""
    work = tmp_path_factory.mktemp("tf-local-moto")
    state_path = work / "terraform.tfstate"
    # AWS_ENDPOINT_URL alone points the root at moto (no endpoints block, providers.tf): the
    # key, region and accounts are the root's own.
    env = clean_env(AWS_ENDPOINT_URL=moto_server.endpoint_url, **plugin_cache)
    terraform = Terraform(LOCAL_ROOT, work / ".terraform", env=env)
    terraform.run("init", f"-backend-config=path={state_path}")
    terraform.run("apply", "-auto-approve")
    return Applied(terraform, moto_server, state_path, terraform.output())


def _document(raw: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    parsed: dict[str, Any] = json.loads(unquote(raw))
    return parsed


def _role(applied: Applied, name: str) -> dict[str, Any]:
    iam = applied.client("iam")
    role: dict[str, Any] = iam.get_role(RoleName=name)["Role"]
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    role["attached"] = {
        p["PolicyName"]: _policy_document(applied, p["PolicyArn"]) for p in attached
    }
    role["trust"] = _document(role["AssumeRolePolicyDocument"])
    return role


def _policy_document(applied: Applied, arn: str) -> dict[str, Any]:
    iam = applied.client("iam")
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return _document(
        iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    )


def _statements(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in document["Statement"]}


def _as_set(value: Any) -> set[str]:
    return set(value) if isinstance(value, list) else {value}


def _web_identity_conditions(trust: dict[str, Any]) -> tuple[str, dict[str, set[str]]]:
    """(federated principal, StringEquals conditions) of a one-statement web identity trust."""
    (statement,) = trust["Statement"]
    assert statement["Effect"] == "Allow"
    assert _as_set(statement["Action"]) == {"sts:AssumeRoleWithWebIdentity"}
    assert set(statement["Condition"]) == {"StringEquals"}, "only exact matches in the trust"
    conditions = {k: _as_set(v) for k, v in statement["Condition"]["StringEquals"].items()}
    return statement["Principal"]["Federated"], conditions


def test_ecr_repositories_are_immutable_scanned_and_tidied(applied: Applied) -> None:
    ecr = applied.client("ecr")
    repositories = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    assert set(repositories) == REPOSITORIES
    for name, repository in repositories.items():
        assert repository["imageTagMutability"] == "IMMUTABLE", name
        assert repository["imageScanningConfiguration"]["scanOnPush"] is True, name
        lifecycle = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
        rules = sorted(lifecycle["rules"], key=lambda rule: rule["rulePriority"])
        assert [rule["selection"]["tagStatus"] for rule in rules] == ["untagged", "tagged", "any"]
        assert all(rule["action"]["type"] == "expire" for rule in rules)
        # Point 9: released images match a rule of higher priority than the count rule, which
        # therefore never expires them (ECR lifecycle evaluation: an image matched by a rule
        # is not expired by a lower-priority rule); that rule's own count is out of reach.
        released = rules[1]["selection"]
        assert released["tagPrefixList"] == ["release-"]
        assert released["countType"] == "imageCountMoreThan"
        assert released["countNumber"] >= 10000
    assert set(applied.outputs["platform"]["ecr_repository_urls"]) == REPOSITORIES


def test_github_ci_role_trusts_only_the_repository_branch_and_pushes_only_to_ecr(
    applied: Applied,
) -> None:
    iam = applied.client("iam")
    providers = [
        p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    ]
    github = [arn for arn in providers if arn.endswith("/token.actions.githubusercontent.com")]
    assert len(github) == 1
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=github[0])
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]

    role = _role(applied, "kontaxa-github-ci")
    assert role["Arn"] == applied.outputs["platform"]["github_ci_role_arn"]
    principal, conditions = _web_identity_conditions(role["trust"])
    assert principal == github[0]
    assert conditions == {
        "token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"},
        "token.actions.githubusercontent.com:sub": {GITHUB_SUB},
    }

    assert list(role["attached"]) == ["kontaxa-github-ci-ecr-push"]
    statements = _statements(role["attached"]["kontaxa-github-ci-ecr-push"])
    assert set(statements) == {"PushToTheseRepositories", "RegistryLogin"}
    push = statements["PushToTheseRepositories"]
    assert _as_set(push["Action"]) == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
    }
    assert _as_set(push["Resource"]) == {
        f"arn:aws:ecr:{REGION}:{EMULATOR_ACCOUNT}:repository/{name}" for name in REPOSITORIES
    }
    login = statements["RegistryLogin"]
    assert (_as_set(login["Action"]), _as_set(login["Resource"])) == (
        {"ecr:GetAuthorizationToken"},
        {"*"},
    )


def test_github_plan_role_trusts_only_pull_requests_and_reads_only_the_state(
    applied: Applied,
) -> None:
    role = _role(applied, "kontaxa-github-plan")
    assert role["Arn"] == applied.outputs["platform"]["github_plan_role_arn"]
    github = applied.outputs["platform"]["github_oidc_provider_arn"]
    principal, conditions = _web_identity_conditions(role["trust"])
    assert principal == github
    assert conditions == {
        "token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"},
        "token.actions.githubusercontent.com:sub": {"repo:kontaxa/kontaxa:pull_request"},
    }

    assert list(role["attached"]) == ["kontaxa-github-plan-read"]
    statements = _statements(role["attached"]["kontaxa-github-plan-read"])
    # The local root creates its cluster: no EKS or IAM read, only its zones are looked up.
    assert {
        sid: (_as_set(s["Action"]), _as_set(s["Resource"])) for sid, s in statements.items()
    } == {
        "ReadTheStateObject": ({"s3:GetObject"}, {STATE_OBJECT_ARN}),
        "ListOnlyTheStateKey": (
            {"s3:ListBucket"},
            {STATE_OBJECT_ARN.split("/", 1)[0]},
        ),
        "GenerateRandomPasswords": ({"secretsmanager:GetRandomPassword"}, {"*"}),
        "ListAvailabilityZones": ({"ec2:DescribeAvailabilityZones"}, {"*"}),
    }
    assert statements["ListOnlyTheStateKey"]["Condition"] == {
        "StringEquals": {"s3:prefix": "kontaxa/aws/terraform.tfstate"}
    }


def test_irsa_roles_trust_the_created_cluster_issuer_for_one_service_account_each(
    applied: Applied,
) -> None:
    issuer = applied.client("eks").describe_cluster(name="kontaxa")["cluster"]["identity"]["oidc"][
        "issuer"
    ]
    issuer_host = issuer.removeprefix("https://")
    platform = applied.outputs["platform"]
    assert platform["cluster_oidc_issuer_url"] == issuer

    iam = applied.client("iam")
    provider_arn = platform["cluster_oidc_provider_arn"]
    assert provider_arn == f"arn:aws:iam::{EMULATOR_ACCOUNT}:oidc-provider/{issuer_host}"
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]

    expected = {
        "kontaxa-aux-service": (
            "kontaxa:aux-service",
            {"kontaxa-aux-service", "kontaxa-aux-service-secrets-read"},
        ),
        "kontaxa-main-api": ("kontaxa:main-api", {"kontaxa-main-api-secrets-read"}),
        "kontaxa-cluster-autoscaler": (
            "kube-system:cluster-autoscaler",
            {"kontaxa-cluster-autoscaler"},
        ),
        "kontaxa-grafana": (
            "monitoring:kube-prometheus-stack-grafana",
            {"kontaxa-grafana-admin-read"},
        ),
    }
    for role_name, (service_account, policies) in expected.items():
        role = _role(applied, role_name)
        principal, conditions = _web_identity_conditions(role["trust"])
        assert principal == provider_arn, role_name
        assert conditions == {
            f"{issuer_host}:sub": {f"system:serviceaccount:{service_account}"},
            f"{issuer_host}:aud": {"sts.amazonaws.com"},
        }, role_name
        assert set(role["attached"]) == policies, role_name
    # No role for the CSI provider: the official one uses each pod's role (issue 16, point 8).
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert not any("csi" in name for name in roles), roles
    assert platform["service_role_arns"] == {
        "aux-service": f"arn:aws:iam::{EMULATOR_ACCOUNT}:role/kontaxa-aux-service",
        "main-api": f"arn:aws:iam::{EMULATOR_ACCOUNT}:role/kontaxa-main-api",
    }


def test_cluster_logs_to_a_managed_group_with_retention_in_looked_up_zones(
    applied: Applied,
) -> None:
    """Points 1 and 10: the control plane log group is Terraform's, with a retention and the
    log types that matter; the subnets' zones come from the account's zone list."""
    logs = applied.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/eks/kontaxa/")["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [
        ("/aws/eks/kontaxa/cluster", 90)
    ]
    cluster = applied.client("eks").describe_cluster(name="kontaxa")["cluster"]
    (enabled,) = [entry for entry in cluster["logging"]["clusterLogging"] if entry["enabled"]]
    assert set(enabled["types"]) == {"api", "audit", "authenticator"}
    state = applied.terraform.show_state()["values"]["root_module"]
    clusters = [
        r["values"]
        for module in _modules(state)
        for r in module.get("resources", [])
        if r["type"] == "aws_eks_cluster"
    ]
    (config,) = clusters
    # moto's EKS keeps no access configuration: the local root leaves it to AWS (the aws root's
    # create_eks plan below checks it).
    assert config["access_config"] == []
    subnets = applied.client("ec2").describe_subnets(
        Filters=[{"Name": "tag:Name", "Values": ["kontaxa-private-*"]}]
    )["Subnets"]
    zones = applied.client("ec2").describe_availability_zones()["AvailabilityZones"]
    # The zones come from the account's list (first two, sorted), not from letters.
    expected = sorted(z["ZoneName"] for z in zones if z["ZoneId"] not in _EKS_UNSUPPORTED)[:2]
    assert sorted(s["AvailabilityZone"] for s in subnets) == expected


_EKS_UNSUPPORTED = {"use1-az3", "usw1-az2", "cac1-az3"}


def _modules(module: dict[str, Any]) -> list[dict[str, Any]]:
    return [module, *(m for child in module.get("child_modules", []) for m in _modules(child))]


def test_aux_service_policy_is_scoped_to_the_prefix_and_ssm(applied: Applied) -> None:
    statements = _statements(
        _role(applied, "kontaxa-aux-service")["attached"]["kontaxa-aux-service"]
    )
    # No KMS statement: the service never asks SSM to decrypt (test_app_access.py).
    assert set(statements) == {"ListBuckets", "ReadParametersUnderPrefix"}
    assert (
        _as_set(statements["ListBuckets"]["Action"]),
        _as_set(statements["ListBuckets"]["Resource"]),
    ) == ({"s3:ListAllMyBuckets"}, {"*"})

    parameters = statements["ReadParametersUnderPrefix"]
    assert _as_set(parameters["Action"]) == {"ssm:GetParameter", "ssm:GetParametersByPath"}
    prefix_arn = f"arn:aws:ssm:{REGION}:{EMULATOR_ACCOUNT}:parameter{PREFIX}"
    assert _as_set(parameters["Resource"]) == {prefix_arn, f"{prefix_arn}/*"}


@pytest.mark.parametrize(
    ("service", "secret_names"),
    [
        ("main-api", ("kontaxa/service-token", "kontaxa/api-keys")),
        # aux-service mounts only the service token: it may not read the API keys (point 7).
        ("aux-service", ("kontaxa/service-token",)),
    ],
)
def test_each_service_reads_exactly_the_secrets_it_mounts(
    applied: Applied, service: str, secret_names: tuple[str, ...]
) -> None:
    secrets = applied.client("secretsmanager")
    arns = {secrets.describe_secret(SecretId=name)["ARN"] for name in secret_names}
    document = _role(applied, f"kontaxa-{service}")["attached"][f"kontaxa-{service}-secrets-read"]
    (statement,) = document["Statement"]
    assert _as_set(statement["Action"]) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    assert _as_set(statement["Resource"]) == arns


def test_grafana_reads_its_admin_password_and_nothing_else(applied: Applied) -> None:
    """Issue 19 #7: the secret exists before the first sync; only Grafana's role reads it."""
    secrets = applied.client("secretsmanager")
    password = secrets.get_secret_value(SecretId="kontaxa/grafana-admin")["SecretString"]
    assert len(password) == 40
    assert password not in applied.state_path.read_text()
    assert password not in json.dumps(applied.outputs)
    arn = secrets.describe_secret(SecretId="kontaxa/grafana-admin")["ARN"]
    document = _role(applied, "kontaxa-grafana")["attached"]["kontaxa-grafana-admin-read"]
    (statement,) = document["Statement"]
    assert _as_set(statement["Resource"]) == {arn}
    for service in ("main-api", "aux-service"):
        reads = _role(applied, f"kontaxa-{service}")["attached"][f"kontaxa-{service}-secrets-read"]
        assert arn not in _as_set(reads["Statement"][0]["Resource"]), "the services never read it"
    platform = applied.outputs["platform"]
    assert platform["grafana_admin_secret_name"] == "kontaxa/grafana-admin"
    assert platform["grafana_role_arn"] == f"arn:aws:iam::{EMULATOR_ACCOUNT}:role/kontaxa-grafana"


def test_cluster_autoscaler_may_only_scale_groups_tagged_for_this_cluster(applied: Applied) -> None:
    statements = _statements(
        _role(applied, "kontaxa-cluster-autoscaler")["attached"]["kontaxa-cluster-autoscaler"]
    )
    scale = statements["ScaleOnlyThisClustersGroups"]
    assert _as_set(scale["Action"]) == {
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    }
    assert scale["Condition"]["StringEquals"] == {
        "aws:ResourceTag/k8s.io/cluster-autoscaler/kontaxa": "owned",
        "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
    }
    discover = _as_set(statements["DiscoverNodeGroups"]["Action"])
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in discover), discover


def test_demo_bucket_is_encrypted_private_and_versioned(applied: Applied) -> None:
    s3 = applied.client("s3")
    assert BUCKET in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert applied.outputs["platform"]["bucket_name"] == BUCKET
    (rule,) = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    ownership = s3.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    # Applied here (skip_provider_waits's default), though the local runner skips it.
    (lifecycle,) = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert lifecycle["Status"] == "Enabled"
    assert lifecycle["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert lifecycle["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_parameters_exist_with_their_types_and_values(applied: Applied) -> None:
    ssm = applied.client("ssm")
    found = {
        p["Name"]: p
        for p in ssm.get_parameters_by_path(Path=PREFIX, Recursive=True, WithDecryption=True)[
            "Parameters"
        ]
    }
    assert set(found) == {
        f"{PREFIX}/welcome-message",
        f"{PREFIX}/feature-flags",
        f"{PREFIX}/db/password",
    }
    assert found[f"{PREFIX}/welcome-message"]["Type"] == "String"
    assert found[f"{PREFIX}/welcome-message"]["Value"] == "Welcome to Kontaxa"
    assert json.loads(found[f"{PREFIX}/feature-flags"]["Value"]) == {"dark_mode": True}
    password = found[f"{PREFIX}/db/password"]
    assert password["Type"] == "SecureString"
    assert len(password["Value"]) == 40
    assert password["Value"].isalnum()


def test_secrets_are_generated_and_never_reach_state_or_outputs(applied: Applied) -> None:
    secrets = applied.client("secretsmanager")
    token = secrets.get_secret_value(SecretId="kontaxa/service-token")["SecretString"]
    api_keys = json.loads(secrets.get_secret_value(SecretId="kontaxa/api-keys")["SecretString"])
    assert len(token) == 40
    assert set(api_keys) == {"primary", "secondary"}
    assert api_keys["primary"] != api_keys["secondary"]
    assert all(len(value) == 40 for value in api_keys.values())
    db_password = applied.client("ssm").get_parameter(
        Name=f"{PREFIX}/db/password", WithDecryption=True
    )
    generated = [token, *api_keys.values(), db_password["Parameter"]["Value"]]

    state_text = applied.state_path.read_text()
    assert "kontaxa/service-token" in state_text  # the state is the real one
    for value in generated:
        assert value not in state_text, "a generated value was written to the state"
        assert value not in json.dumps(applied.outputs), "a generated value is in an output"
    assert applied.outputs["platform"]["secret_names"] == {
        "service-token": "kontaxa/service-token",
        "api-keys": "kontaxa/api-keys",
    }


def _state_policy_documents(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every IAM document in the state: policy documents, managed policies, role trusts."""
    documents: dict[str, dict[str, Any]] = {}

    def walk(module: dict[str, Any]) -> None:
        for resource in module.get("resources", []):
            values = resource.get("values") or {}
            if resource["type"] == "aws_iam_policy_document":
                documents[resource["address"]] = json.loads(values["json"])
            elif resource["type"] == "aws_iam_policy":
                documents[resource["address"]] = json.loads(values["policy"])
            elif resource["type"] == "aws_iam_role":
                documents[resource["address"]] = json.loads(values["assume_role_policy"])
        for child in module.get("child_modules", []):
            walk(child)

    walk(state["values"]["root_module"])
    return documents


def test_every_rendered_iam_document_passes_the_policy_rules(applied: Applied) -> None:
    documents = _state_policy_documents(applied.terraform.show_state())
    kinds = {address.rsplit(".", 2)[-2] for address in documents}
    assert kinds == {"aws_iam_policy_document", "aws_iam_policy", "aws_iam_role"}
    assert len(documents) >= 20, sorted(documents)
    problems = [p for address, doc in documents.items() for p in policy_violations(address, doc)]
    assert problems == []


def test_aws_root_plans_against_the_same_api_without_code_changes(
    applied: Applied, tmp_path: Path, plugin_cache: dict[str, str]
) -> None:
    """The aws root with the real provider, pointed at moto only through AWS_ENDPOINT_URL.

    Its backend is swapped for a local one by an override file in a copy of the tree; it
    looks up the cluster the local root created, as it would an existing EKS cluster.
    """
    tree = copy_terraform_tree(tmp_path / "tree")
    root = tree / AWS_ROOT.relative_to(AWS_ROOT.parents[1])
    (root / "backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    terraform = Terraform(
        root,
        tmp_path / ".terraform",
        env={**emulator_env(applied.emulator.endpoint_url), **plugin_cache},
    )
    terraform.run("init", f"-backend-config=path={tmp_path / 'aws.tfstate'}")
    plan_file = tmp_path / "aws.tfplan"
    terraform.run(
        "plan",
        f"-out={plan_file}",
        f"-var=account_id={EMULATOR_ACCOUNT}",
        "-var=github_repository=kontaxa/kontaxa",
        '-var=github_environments=["production"]',
    )
    plan = json.loads(terraform.run("show", "-json", str(plan_file)).stdout)
    created = {
        c["address"] for c in plan["resource_changes"] if c["change"]["actions"] == ["create"]
    }
    assert 'module.platform.module.service_irsa["aux-service"].aws_iam_role.this' in created
    assert "module.platform.module.github_oidc.aws_iam_role.this" in created
    assert not any(".module.eks." in address for address in created), "create_eks defaults to false"
    trust = next(
        c
        for c in plan["resource_changes"]
        if c["address"] == 'module.platform.module.service_irsa["aux-service"].aws_iam_role.this'
    )["change"]["after"]["assume_role_policy"]
    assert applied.outputs["platform"]["cluster_oidc_provider_arn"] in trust


def test_aws_root_plans_a_new_cluster_hardened_with_its_addons(
    applied: Applied, tmp_path: Path, plugin_cache: dict[str, str]
) -> None:
    """create_eks on the aws root, planned with the real provider against moto (which has no
    add-on or access entry API to apply them): IMDSv2 with hop limit 1 on the nodes (point 5),
    the pinned managed add-ons with network policy enforcement and the EBS CSI driver on its own
    role (point 6, issue 19), the admins as access entries (point 4), the log group (point 10)."""
    tree = copy_terraform_tree(tmp_path / "tree")
    root = tree / AWS_ROOT.relative_to(AWS_ROOT.parents[1])
    (root / "backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    terraform = Terraform(
        root,
        tmp_path / ".terraform",
        env={**emulator_env(applied.emulator.endpoint_url), **plugin_cache},
    )
    terraform.run("init", f"-backend-config=path={tmp_path / 'aws.tfstate'}")
    admin = f"arn:aws:iam::{EMULATOR_ACCOUNT}:role/platform-admin"
    plan_file = tmp_path / "aws.tfplan"
    terraform.run(
        "plan",
        f"-out={plan_file}",
        f"-var=account_id={EMULATOR_ACCOUNT}",
        "-var=github_repository=kontaxa/kontaxa",
        "-var=create_eks=true",
        "-var=cluster_name=kontaxa-new",
        f'-var=cluster_admin_principal_arns=["{admin}"]',
    )
    plan = json.loads(terraform.run("show", "-json", str(plan_file)).stdout)
    after = {c["address"]: c["change"]["after"] for c in plan["resource_changes"]}
    eks = "module.platform.module.eks"

    (template,) = [v for a, v in after.items() if a.startswith(f"{eks}.aws_launch_template.node")]
    (metadata,) = template["metadata_options"]
    assert (
        metadata["http_endpoint"],
        metadata["http_tokens"],
        metadata["http_put_response_hop_limit"],
    ) == ("enabled", "required", 1)

    addons = {v["addon_name"]: v for a, v in after.items() if ".aws_eks_addon." in a}
    assert set(addons) == {"vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"}
    assert all(addon["addon_version"] for addon in addons.values())
    assert json.loads(addons["vpc-cni"]["configuration_values"]) == {"enableNetworkPolicy": "true"}
    # The EBS CSI driver and the VPC CNI each on a role of their own, trusted by their service
    # account only; the node role keeps neither policy (EKS User Guide, "Configure Amazon VPC
    # CNI plugin to use IRSA").
    for addon, account, policy in [
        ("ebs-csi-driver", "ebs-csi-controller-sa", "service-role/AmazonEBSCSIDriverPolicy"),
        ("vpc-cni", "aws-node", "AmazonEKS_CNI_Policy"),
    ]:
        module = f'{eks}.module.addon_irsa["{addon}"]'
        role = after[f"{module}.aws_iam_role.this"]
        assert role["name"] == f"kontaxa-new-{addon}"
        # The trust policy waits for the new cluster's issuer; its subject is known now.
        trust = after[f"{module}.data.aws_iam_policy_document.trust"]
        assert f'"system:serviceaccount:kube-system:{account}"' in json.dumps(trust)
        (attachment,) = [
            v for a, v in after.items() if a.startswith(f"{module}.aws_iam_role_policy_attachment")
        ]
        assert attachment["policy_arn"] == f"arn:aws:iam::aws:policy/{policy}"
    node_policies = {
        v["policy_arn"].rsplit("/", 1)[-1]
        for a, v in after.items()
        if a.startswith(f"{eks}.aws_iam_role_policy_attachment.node[")
    }
    assert node_policies == {"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly"}
    unknown = {
        c["change"]["after"]["addon_name"]: c["change"]["after_unknown"]
        for c in plan["resource_changes"]
        if ".aws_eks_addon." in c["address"]
    }
    assert unknown["vpc-cni"].get("service_account_role_arn") is True  # the new role's ARN
    assert addons["kube-proxy"]["service_account_role_arn"] is None

    cluster = after[f"{eks}.aws_eks_cluster.this[0]"]
    assert cluster["version"] == "1.35"
    assert cluster["access_config"][0]["authentication_mode"] == "API"
    assert cluster["access_config"][0]["bootstrap_cluster_creator_admin_permissions"] is False
    assert after[f'{eks}.aws_eks_access_entry.admin["{admin}"]']["principal_arn"] == admin
    association = after[f'{eks}.aws_eks_access_policy_association.admin["{admin}"]']
    assert association["policy_arn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
    log_group = after[f"{eks}.aws_cloudwatch_log_group.cluster[0]"]
    assert (log_group["name"], log_group["retention_in_days"]) == (
        "/aws/eks/kontaxa-new/cluster",
        90,
    )
    zones = {v["availability_zone"] for a, v in after.items() if ".aws_subnet.private" in a}
    assert len(zones) == 2
    # What the local runner leaves off (skip_provider_waits) the aws root always has: it has no
    # such variable. Nodes need the VPC's DNS hostnames; the key is rotated and tagged.
    assert after[f"{eks}.aws_vpc.this[0]"]["enable_dns_hostnames"] is True
    key = after[f"{eks}.aws_kms_key.cluster[0]"]
    assert key["enable_key_rotation"] is True
    assert key["tags"]["environment"] == "aws"


def test_outputs_reach_the_eks_tree_without_hand_edits(applied: Applied, tmp_path: Path) -> None:
    """task k8s:eks-outputs end to end: `terraform output -json` of the applied root, the
    generated component in a copy of infra/k8s, rendered with kubectl kustomize, validated
    against the Kubernetes schemas, carrying exactly the ARNs and names Terraform created."""
    raw = applied.terraform.run("output", "-json").stdout
    tree = tmp_path / "k8s"
    shutil.copytree(REPO_ROOT / "infra" / "k8s", tree, ignore=shutil.ignore_patterns("tests"))
    out = tree / "overlays" / "eks" / "terraform"
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(raw)
    generator = REPO_ROOT / "infra" / "k8s" / "scripts" / "eks_outputs.py"
    subprocess.run(
        [sys.executable, str(generator), "--outputs", str(outputs_file), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    platform = applied.outputs["platform"]
    roles = platform["service_role_arns"]
    rendered = {}
    for directory in ("overlays/eks", "platform/eks", "argocd/eks", "monitoring/eks"):
        text = subprocess.run(
            ["kubectl", "kustomize", str(tree / directory)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rendered[directory] = [o for o in yaml.safe_load_all(text) if o]
    objects = rendered["overlays/eks"]
    # The manifest tests' own validation: Kubernetes' strict schemas, the CRDs' committed ones.
    k8s_manifests = _k8s_manifests()
    for obj in objects:
        k8s_manifests.validate_object(obj)

    def get(kind: str, name: str) -> dict[str, Any]:
        # Generated ConfigMaps carry a content-hash suffix.
        (found,) = [
            o
            for o in objects
            if o["kind"] == kind and o["metadata"]["name"] in (name, f"{name}-{_hash(o)}")
        ]
        return found

    def _hash(obj: dict[str, Any]) -> str:
        return str(obj["metadata"]["name"]).rsplit("-", 1)[-1]

    for service in ("main-api", "aux-service"):
        account = get("ServiceAccount", service)
        assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == roles[service]
        (container,) = [
            c
            for c in get("Deployment", service)["spec"]["template"]["spec"]["containers"]
            if c["name"] == service
        ]
        repository = platform["ecr_repository_urls"][f"kontaxa/{service}"]
        assert container["image"].split(":")[0] == repository
        assert (
            get("SecretProviderClass", f"{service}-secrets")["spec"]["parameters"]["region"]
            == platform["region"]
        )
    # The settings ConfigMap is generated with a hash suffix (issue 19 point 11).
    (config,) = [
        o["data"]
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("aux-service-config-")
    ]
    assert (config["AWS_REGION"], config["PARAMETER_PREFIX"]) == (
        platform["region"],
        platform["parameter_prefix"],
    )
    assert get("Ingress", "main-api")["spec"]["rules"][0]["host"] == platform["api_hostname"]
    sources = [
        s
        for app in rendered["argocd/eks"]
        if app["kind"] == "Application"
        for s in app["spec"]["sources"]
        if s.get("name") == "kontaxa"
    ]
    assert sources
    assert {s["repoURL"] for s in sources} == {platform["gitops_repository_url"]}
    values = yaml.safe_load((out / "values" / "cluster-autoscaler.yaml").read_text())
    assert values["rbac"]["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": platform["cluster_autoscaler_role_arn"]
    }
    assert (values["awsRegion"], values["autoDiscovery"]["clusterName"]) == (
        platform["region"],
        platform["cluster_name"],
    )
    # The platform Applications read exactly these generated values files.
    value_files = {
        f
        for app in rendered["platform/eks"]
        if app["kind"] == "Application"
        for s in app["spec"]["sources"]
        for f in s.get("helm", {}).get("valueFiles", [])
    }
    for name in ("cluster-autoscaler", "secrets-store-csi-driver-provider-aws"):
        assert f"$values/infra/k8s/overlays/eks/terraform/values/{name}.yaml" in value_files
        assert (out / "values" / f"{name}.yaml").is_file()
    # Grafana's role (issue 19 point 7), read by the monitoring Application after eks.yaml.
    grafana = yaml.safe_load((out / "values" / "kube-prometheus-stack.yaml").read_text())
    assert grafana["grafana"]["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": platform["grafana_role_arn"]
    }
    (stack,) = [a for a in rendered["monitoring/eks"] if a["kind"] == "Application"]
    (grafana_spc,) = [o for o in rendered["monitoring/eks"] if o["kind"] == "SecretProviderClass"]
    assert grafana_spc["spec"]["parameters"]["region"] == platform["region"]
    assert stack["spec"]["sources"][0]["helm"]["valueFiles"][-1] == (
        "$values/infra/k8s/overlays/eks/terraform/values/kube-prometheus-stack.yaml"
    )


def _k8s_manifests() -> Any:
    """infra/k8s/tests/k8s_manifests.py, the one implementation of manifest validation."""
    path = REPO_ROOT / "infra" / "k8s" / "tests" / "k8s_manifests.py"
    spec = importlib.util.spec_from_file_location("k8s_manifests", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_outputs_generator_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    generator = REPO_ROOT / "infra" / "k8s" / "scripts" / "eks_outputs.py"
    out = tmp_path / "component"
    for text in ("not json", "{}", '{"platform": {"value": {"region": "us-east-1"}}}'):
        source = tmp_path / "outputs.json"
        source.write_text(text)
        result = subprocess.run(
            [sys.executable, str(generator), "--outputs", str(source), "--out", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 2, result
        assert result.stderr.startswith("eks-outputs: ")
        assert "Traceback" not in result.stderr
        assert not out.exists()


def test_a_plan_without_refresh_reads_no_secret(applied: Applied, tmp_path: Path) -> None:
    """The pull request plan's -refresh=false: with resources in the state, the plan calls
    nothing but the ephemeral random passwords. The same plan with refresh reads the secret
    values and the SecureString back, which the plan role could not and must not do."""

    def actions_called(*flags: str) -> set[str]:
        log = tmp_path / f"plan{''.join(flags)}.log"
        env = {**applied.terraform.env, "TF_LOG": "debug", "TF_LOG_PATH": str(log)}
        terraform = dataclasses.replace(applied.terraform, env=env)
        terraform.run("plan", "-lock=false", *flags)
        return aws_actions_called(log.read_text())

    # The provider's account lookup: this root skips credential validation, so the provider
    # asks iam:GetUser before sts:GetCallerIdentity (the aws root validates, through STS).
    account_lookup = {"sts:GetCallerIdentity", "iam:GetUser"}
    # The zone lookup of the created cluster reads the region's zone list, nothing secret.
    assert actions_called("-refresh=false") - account_lookup == {
        "secretsmanager:GetRandomPassword",
        "ec2:DescribeAvailabilityZones",
    }
    assert {"secretsmanager:GetSecretValue", "ssm:GetParameter"} <= actions_called()


def test_the_settings_the_runner_skips_are_applied_here(applied: Applied) -> None:
    """skip_provider_waits's default (false, as on AWS): the VPC has DNS hostnames, the
    cluster key rotation and tags. The local runner leaves these off (with the bucket's
    lifecycle rule, checked above) to skip the provider's waits; this apply keeps them covered."""
    ec2 = applied.client("ec2")
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["kontaxa"]}])["Vpcs"]
    hostnames = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")
    assert hostnames["EnableDnsHostnames"] == {"Value": True}
    kms = applied.client("kms")
    cluster = applied.client("eks").describe_cluster(name="kontaxa")["cluster"]
    (encryption,) = cluster["encryptionConfig"]
    key_arn = encryption["provider"]["keyArn"]
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    tags = kms.list_resource_tags(KeyId=key_arn)["Tags"]
    assert {"TagKey": "environment", "TagValue": "local"} in tags


def test_the_runners_setting_changes_only_the_four_it_names(
    applied: Applied, tmp_path: Path
) -> None:
    """What `task local-up` applies differs from this apply in exactly the settings
    skip_provider_waits names, and nothing is created or replaced: the plan from this state
    to the runner's variables updates the VPC's DNS hostnames and the cluster key's rotation
    and tags, and deletes the bucket's lifecycle configuration."""
    plan = tmp_path / "runner.tfplan"
    applied.terraform.run("plan", "-lock=false", "-var=skip_provider_waits=true", f"-out={plan}")
    shown = json.loads(applied.terraform.run("show", "-json", str(plan)).stdout)
    changes = {
        change["address"]: change["change"]
        for change in shown["resource_changes"]
        if change["change"]["actions"] not in (["no-op"], ["read"])
    }
    vpc = "module.platform.module.eks.aws_vpc.this[0]"
    key = "module.platform.module.eks.aws_kms_key.cluster[0]"
    lifecycle = "module.platform.module.app_config.aws_s3_bucket_lifecycle_configuration.demo[0]"
    assert {address: c["actions"] for address, c in changes.items()} == {
        vpc: ["update"],
        key: ["update"],
        lifecycle: ["delete"],
    }

    def changed(change: dict[str, Any]) -> dict[str, Any]:
        before, after = change["before"], change["after"]
        return {
            k: after.get(k) for k in before.keys() | after.keys() if before.get(k) != after.get(k)
        }

    assert changed(changes[vpc]) == {"enable_dns_hostnames": False}
    outputs = {name: c["actions"] for name, c in shown.get("output_changes", {}).items()}
    assert outputs, "the plan lists the root's outputs"
    assert all(actions == ["no-op"] for actions in outputs.values()), outputs
    assert changed(changes[key]) == {"enable_key_rotation": False, "tags": {}, "tags_all": {}}


def test_replan_shows_no_changes(applied: Applied) -> None:
    result = applied.terraform.run("plan", "-detailed-exitcode", check=False)
    assert result.returncode == 0, (
        f"plan after apply is not clean:\n{result.stdout[-6000:]}{result.stderr}"
    )
    assert "No changes." in result.stdout


def test_destroy_leaves_nothing(applied: Applied) -> None:
    applied.terraform.run("destroy", "-auto-approve")
    state = applied.terraform.show_state()
    assert "root_module" not in state.get("values", {}) or not state["values"]["root_module"].get(
        "resources"
    )

    iam = applied.client("iam")
    assert [
        r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("kontaxa")
    ] == []
    assert [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]] == []
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    assert applied.client("s3").list_buckets()["Buckets"] == []
    assert (
        applied.client("ssm").get_parameters_by_path(Path="/", Recursive=True)["Parameters"] == []
    )
    assert applied.client("secretsmanager").list_secrets()["SecretList"] == []
    assert applied.client("ecr").describe_repositories()["repositories"] == []
    assert applied.client("eks").list_clusters()["clusters"] == []
    vpcs = applied.client("ec2").describe_vpcs()["Vpcs"]
    assert [v["VpcId"] for v in vpcs if not v.get("IsDefault")] == []
