"""Terraform's environment and when the runner runs `terraform init`."""

import shutil
from pathlib import Path

import pytest

from kontaxa_local import terraform
from kontaxa_local.settings import REPO_ROOT, Settings


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
