"""Terraform's environment and when the runner runs `terraform init`."""

import shutil
from pathlib import Path

import pytest

from kontaxa_e2e.emulator import Emulator
from kontaxa_local import terraform
from kontaxa_local.process_runtime import free_port
from kontaxa_local.settings import REPO_ROOT, Settings

TERRAFORM_PROVIDERS = "infra/terraform/environments/local/providers.tf"
EKS_MODULE = "infra/terraform/modules/eks/vpc.tf"


def test_terraform_calls_no_update_host_and_runs_with_the_go_settings(tmp_path: Path) -> None:
    env = terraform.environment(Settings(state_dir=tmp_path))
    assert env["CHECKPOINT_DISABLE"] == "1"
    assert (env["GOGC"], env["GOMEMLIMIT"]) == ("off", "400MiB")
    # In the cache, which local-down keeps: a warm bring-up finds the initialised directory.
    assert env["TF_DATA_DIR"] == str(tmp_path / "cache/terraform")


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


def test_warming_makes_the_plan_walks_first_calls_on_a_real_emulator(emulator: Emulator) -> None:
    warming = terraform.warm(emulator.url)
    warming.join(timeout=120)
    assert not warming.is_alive()
    assert warming.failed == {}
    assert warming.done == ["iam.get_user", "ec2.describe_availability_zones"]
    # They stay the root's first calls: the account check (allowed_account_ids needs
    # iam:GetUser) and the zones for the EKS subnets.
    assert "allowed_account_ids" in (REPO_ROOT / TERRAFORM_PROVIDERS).read_text()
    assert 'data "aws_availability_zones"' in (REPO_ROOT / EKS_MODULE).read_text()


def test_warming_an_emulator_that_is_not_there_only_notes_it() -> None:
    warming = terraform.warm(f"http://127.0.0.1:{free_port()}")
    warming.join(timeout=60)
    assert warming.done == []
    assert sorted(warming.failed) == ["ec2.describe_availability_zones", "iam.get_user"]
