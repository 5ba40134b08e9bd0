"""`task tf:apply` and `task tf:plan` of ENV=local: the emulator reaches the provider through
AWS_ENDPOINT_URL alone (the local root has no endpoints block), and the tasks refuse what
would send a service elsewhere.

Run in a copy of the repository: the tasks write `.terraform` and the state into the root.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from .conftest import (
    LOCAL_ROOT,
    REPO_ROOT,
    Emulator,
    Terraform,
    clean_env,
    copy_repository,
    task_binary,
    task_env,
)

pytestmark = [pytest.mark.usefixtures("terraform_available"), pytest.mark.timeout(900)]


def _task() -> str:
    task = task_binary()
    if task is None:
        pytest.skip("go-task missing: run ./task setup first")
    return task


def _run(task: str, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [task, *args],
        cwd=cwd,
        env=task_env(task, **env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_apply_then_plan_through_the_tasks_reach_the_emulator(
    moto_server: Emulator, tmp_path: Path, plugin_cache: dict[str, str]
) -> None:
    task = _task()
    checkout = copy_repository(tmp_path / "repo")
    url = f"ENDPOINT_URL={moto_server.endpoint_url}"
    # A developer's profile stays out: the provider fails on a named profile it cannot find
    # ("failed to get shared config profile") before it uses the root's key.
    shell = {"AWS_PROFILE": "kontaxa-no-such-profile", **plugin_cache}
    applied = _run(task, checkout, "tf:apply", url, "--", "-var=skip_provider_waits=true", **shell)
    assert applied.returncode == 0, applied.stdout[-4000:] + applied.stderr[-4000:]
    assert "Apply complete!" in applied.stdout
    planned = _run(
        task,
        checkout,
        "tf:plan",
        url,
        "--",
        "-var=skip_provider_waits=true",
        "-detailed-exitcode",
        "-no-color",
        **shell,
    )
    assert planned.returncode == 0, planned.stdout[-4000:] + planned.stderr[-4000:]
    assert "No changes." in planned.stdout


@pytest.mark.parametrize(
    ("arguments", "env", "message"),
    [
        (["ENDPOINT_URL=127.0.0.1:5000"], {}, "ENDPOINT_URL must be an http(s) URL"),
        *[
            (["ENDPOINT_URL=http://127.0.0.1:5000"], {name: "http://127.0.0.1:9"}, "unset AWS_")
            for name in ("AWS_ENDPOINT_URL_SSM", "AWS_IAM_ENDPOINT", "TF_AWS_S3_ENDPOINT")
        ],
    ],
)
@pytest.mark.parametrize("target", ["tf:plan", "tf:apply", "tf:destroy"])
def test_the_tasks_refuse_an_endpoint_the_emulator_would_not_get(
    target: str, arguments: list[str], env: dict[str, str], message: str
) -> None:
    # --dry: Task checks the preconditions and runs no command, so a check that let the
    # request through could not write into this checkout.
    result = _run(_task(), REPO_ROOT, target, "--dry", *arguments, **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "precondition not met" in result.stderr
    assert "terraform" not in result.stderr.split(message)[0]  # refused before Terraform


ONE_PARAMETER = """
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

resource "aws_ssm_parameter" "probe" {
  name  = "/kontaxa-test/endpoint-probe"
  type  = "String"
  value = "probe"
}
"""


def test_a_service_endpoint_of_its_own_beats_aws_endpoint_url(
    moto_server: Emulator, tmp_path: Path, plugin_cache: dict[str, str]
) -> None:
    """The provider rule tf:emulator-check relies on: AWS_ENDPOINT_URL_SSM wins over
    AWS_ENDPOINT_URL (the AWS SDKs' precedence), so a shell that sets one sends that
    service elsewhere. The provider is the local root's (its versions.tf)."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(LOCAL_ROOT / "versions.tf", root / "versions.tf")
    (root / "main.tf").write_text(ONE_PARAMETER)
    env = clean_env(AWS_ENDPOINT_URL=moto_server.endpoint_url, AWS_MAX_ATTEMPTS="1", **plugin_cache)
    terraform = Terraform(root, tmp_path / ".terraform", env=env)
    terraform.run("init")
    # A port bound but not listening: held for the test, and every connection refused.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        elsewhere = f"127.0.0.1:{held.getsockname()[1]}"
        redirected = dataclasses.replace(
            terraform, env={**env, "AWS_ENDPOINT_URL_SSM": f"http://{elsewhere}"}
        )
        failed = redirected.run("apply", "-auto-approve", check=False)
    assert failed.returncode != 0
    assert "SSM: PutParameter" in failed.stderr, failed.stderr
    assert elsewhere in failed.stderr, failed.stderr
    # The same root with AWS_ENDPOINT_URL alone creates the parameter in moto.
    terraform.run("apply", "-auto-approve")
