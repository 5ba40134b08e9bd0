"""The CI role (modules/github-oidc, policy ecr_push) grants exactly what its jobs call.

The jobs that assume it (`role-to-assume: ${{ vars.AWS_CI_ROLE_ARN }}`) run
`task ci:publish` (scripts/ci/publish-image.sh: docker push and the AWS CLI) and
`task ci:release-tag` (scripts/ci/release_tag.py: boto3). Their calls are read from the
scripts; docker push's come from the ECR User Guide. The resources are checked where the
policy is applied (test_local_moto: the project's repositories, no wildcard).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .code_calls import calls_in_code, cli_calls, iam_actions, policy_actions
from .conftest import REPO_ROOT, TERRAFORM_DIR

POLICY = TERRAFORM_DIR / "modules" / "github-oidc" / "main.tf"
CI = REPO_ROOT / "scripts" / "ci"
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
# What each Task target run under the CI role calls AWS from.
TARGET_SCRIPTS = {
    "ci:publish": CI / "publish-image.sh",
    "ci:release-tag": CI / "release_tag.py",
}
# docker push to ECR (ECR User Guide, "Pushing a Docker image", required IAM permissions):
# the registry login and the layer and manifest uploads.
DOCKER_PUSH = {
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
}
# sts:GetCallerIdentity needs no permission (Service Authorization Reference, AWS STS).
NEEDS_NO_PERMISSION = {("sts", "get_caller_identity")}


def _ci_role_targets() -> set[str]:
    """The Task targets the steps of every CI-role job run."""
    targets: set[str] = set()
    for path in sorted(WORKFLOWS.glob("*.yaml")):
        for job in (yaml.safe_load(path.read_text()).get("jobs") or {}).values():
            steps = job.get("steps") or []
            roles = {(s.get("with") or {}).get("role-to-assume") for s in steps}
            if "${{ vars.AWS_CI_ROLE_ARN }}" not in roles:
                continue
            for step in steps:
                argv = str(step.get("run", "")).split()
                if argv[:1] == ["./task"]:
                    targets.add(argv[1])
    return targets


def test_the_ci_role_jobs_run_the_known_scripts_only() -> None:
    """A new job or step under the CI role must be added here, with what it calls."""
    assert _ci_role_targets() == set(TARGET_SCRIPTS)


def test_the_scripts_calls_are_read() -> None:
    assert ("ecr", "batch_get_image") in cli_calls(TARGET_SCRIPTS["ci:publish"])
    assert ("ecr", "get_authorization_token") in cli_calls(TARGET_SCRIPTS["ci:publish"])
    assert calls_in_code(TARGET_SCRIPTS["ci:release-tag"]) == {
        ("ecr", "batch_get_image"),
        ("ecr", "put_image"),
    }


def test_the_ci_role_grants_exactly_what_its_jobs_call() -> None:
    calls: set[tuple[str, str]] = set()
    for script in TARGET_SCRIPTS.values():
        calls |= cli_calls(script) if script.suffix == ".sh" else calls_in_code(script)
    expected = DOCKER_PUSH | iam_actions(calls - NEEDS_NO_PERMISSION)
    granted = policy_actions(POLICY.read_text(), "ecr_push")
    assert granted == expected, (
        f"granted but never called: {sorted(granted - expected)}; "
        f"called but not granted: {sorted(expected - granted)}"
    )


def test_the_cli_reader_finds_a_made_up_call(tmp_path: Path) -> None:
    """cli_calls reads what a script runs: a made-up call is found (the reader has teeth)."""
    script = tmp_path / "x.sh"
    script.write_text('"$AWS" ecr describe-images --repository-name r\n')
    assert iam_actions(cli_calls(script)) == {"ecr:DescribeImages"}
