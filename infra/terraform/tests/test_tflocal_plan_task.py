"""`task tflocal:plan` plans on the state local-up applied, with local-up's variables, so right
after `LOCAL_EMULATOR=localstack task local-up` it shows "No changes" (issue 16).

The local root is applied through local-up's own code (kontaxa_local.terraform, with the
LocalStack variables of kontaxa_local.emulator) to each emulator, and the real Task target then
runs tflocal against it: LocalStack (localstack-core on the host under Python 3.13, conftest's
`localstack`, skipped with the reason where it cannot run) and moto (the same mechanism: the
state file, the variables, the emulator URL local-up records).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kontaxa_local import terraform as local_terraform
from kontaxa_local.executor import Executor
from kontaxa_local.settings import Settings

from .conftest import Emulator, copy_repository, task_binary, task_env, uv_binary

pytestmark = [pytest.mark.usefixtures("terraform_available"), pytest.mark.timeout(900)]

# What local-up passes for LocalStack (kontaxa_local.emulator), which localstack.tfvars mirrors.
LOCALSTACK_VARS = {"create_eks": "false", "create_ecr_repositories": "false"}


@pytest.mark.parametrize("emulator_fixture", ["localstack", "moto_server"])
def test_tflocal_plan_after_local_up_shows_no_changes(
    emulator_fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    task = task_binary()
    if task is None or uv_binary() is None:
        pytest.skip("go-task or uv missing: run ./task setup first")
    emulator: Emulator = request.getfixturevalue(emulator_fixture)
    state_dir = tmp_path / "local"
    settings = Settings.from_env({"LOCAL_STATE_DIR": str(state_dir)})
    executor = Executor()
    local_terraform.apply(
        executor, settings, emulator.endpoint_url, LOCALSTACK_VARS, tmp_path / "tf.log"
    )
    # local-up records the emulator's URL in its state; tflocal:plan reads it from there.
    (state_dir / "state.json").write_text(
        json.dumps({"runtime": "process", "emulator_url": emulator.endpoint_url})
    )
    env = task_env(task, LOCAL_STATE_DIR=str(state_dir))
    # In a copy of the repository: tflocal writes its override into the root it plans.
    checkout = copy_repository(tmp_path / "repo")
    result = subprocess.run(
        [task, "tflocal:plan", "--", "-detailed-exitcode", "-no-color"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "No changes." in result.stdout
