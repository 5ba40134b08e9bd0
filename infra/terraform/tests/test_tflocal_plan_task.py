"""`task tflocal:plan` plans on the state local-up applied, with local-up's variables, so right
after `LOCAL_EMULATOR=localstack task local-up` it shows "No changes" (issue 16).

LocalStack runs only under Python 3.13 and takes minutes to start; the mechanism under test
(the state file, the variables, the emulator URL local-up records) is the same with moto, so
this applies the local root through local-up's own code (kontaxa_local.terraform, the
LocalStack variables of kontaxa_local.emulator) to moto and runs the real Task target with
tflocal against it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kontaxa_local import terraform as local_terraform
from kontaxa_local.executor import Executor
from kontaxa_local.settings import Settings

from .conftest import REPO_ROOT, Emulator, clean_env, uv_binary

pytestmark = [pytest.mark.usefixtures("terraform_available"), pytest.mark.timeout(900)]

# What local-up passes for LocalStack (kontaxa_local.emulator), which localstack.tfvars mirrors.
LOCALSTACK_VARS = {"create_eks": "false", "create_ecr_repositories": "false"}


def test_tflocal_plan_after_local_up_shows_no_changes(
    moto_server: Emulator, tmp_path: Path
) -> None:
    task = shutil.which("task") or shutil.which("task", path=str(REPO_ROOT / ".tools" / "bin"))
    if task is None or uv_binary() is None:
        pytest.skip("go-task or uv missing: run ./task setup first")
    state_dir = tmp_path / "local"
    settings = Settings.from_env({"LOCAL_STATE_DIR": str(state_dir)})
    executor = Executor()
    local_terraform.apply(
        executor, settings, moto_server.endpoint_url, LOCALSTACK_VARS, tmp_path / "tf.log"
    )
    # local-up records the emulator's URL in its state; tflocal:plan reads it from there.
    (state_dir / "state.json").write_text(
        json.dumps({"runtime": "process", "emulator_url": moto_server.endpoint_url})
    )
    env = clean_env(
        LOCAL_STATE_DIR=str(state_dir), PATH=f"{Path(task).parent}:{clean_env()['PATH']}"
    )
    result = subprocess.run(
        [task, "tflocal:plan", "--", "-detailed-exitcode", "-no-color"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "No changes." in result.stdout
