"""The process runtime for real: up is idempotent, down leaves nothing, a failure cleans up."""

import os
import re
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kontaxa_local import terraform
from kontaxa_local.errors import StepFailed
from kontaxa_local.executor import Executor
from kontaxa_local.monitoring import missing_binaries
from kontaxa_local.process_runtime import ProcessRuntime, http_ok
from kontaxa_local.settings import Settings
from kontaxa_local.state import State


def _runtime(state_dir: Path, **ports: int) -> ProcessRuntime:
    settings = Settings(
        runtime="process",
        state_dir=state_dir,
        ports={"main-api": 0, "aux-service": 0, "emulator": 0, **ports},
    )
    return ProcessRuntime(settings, Executor())


def test_up_twice_then_down_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / "stack"
    runtime = _runtime(state_dir)
    capsys.readouterr()
    first = runtime.up()
    assert first is not None
    # Each step prints its seconds as it ends, and the up line lists them all with the total.
    steps = ["emulator", "terraform init", "terraform apply", "manifests", "services"]
    assert list(runtime.step_seconds) == steps
    assert all(0 <= seconds < 600 for seconds in runtime.step_seconds.values())
    printed = capsys.readouterr().err
    assert re.search(r"emulator ready at \S+ \(\d+\.\ds\)", printed)
    assert re.search(r"terraform applied \(init \d+\.\ds, apply \d+\.\ds\)", printed)
    assert re.search(r"Deployments: .*\(\d+\.\ds\)", printed)
    assert re.search(r"services started and ready \(\d+\.\ds\)", printed)
    runtime.print_summary(first, 12.34)
    (up_line,) = [line for line in capsys.readouterr().err.splitlines() if "up in" in line]
    listed = ", ".join(rf"{step} \d+\.\ds" for step in steps)
    assert re.match(rf"up in 12\.3s \({listed}\); logs: ", up_line), up_line
    pids = {name: c.process.pid for name, c in first.components.items()}
    # Prometheus, Alertmanager and the alert sink too, where they are (or can be) installed.
    monitoring_parts = set() if missing_binaries() else {"alert-sink", "alertmanager", "prometheus"}
    assert set(pids) == {"emulator", "aux-service", "main-api"} | monitoring_parts
    assert all(http_ok(c.ready_url) for c in first.components.values())

    second = runtime.up()  # healthy already: changes nothing
    assert second is not None
    assert {name: c.process.pid for name, c in second.components.items()} == pids
    assert [row.state for row in runtime.status()] == ["ready"] * len(pids)

    records = [c.process for c in first.components.values()]
    urls = [c.url for c in first.components.values()]
    runtime.down()
    assert not any(record.alive() for record in records)
    assert _processes_under(state_dir) == []
    # Only the cache stays (local-reset removes it): Terraform's initialised working directory.
    assert [p.name for p in state_dir.iterdir()] == ["cache"]
    assert [p.name for p in (state_dir / "cache").iterdir()] == ["terraform"]
    for url in urls:
        port = int(url.rsplit(":", 1)[1])
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"{url} still answers"
    runtime.down()  # and again: nothing to do, no error


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_failed_start_stops_what_it_started(tmp_path: Path, busy_port: int) -> None:
    state_dir = tmp_path / "stack"
    runtime = _runtime(state_dir, **{"main-api": busy_port})
    with pytest.raises(StepFailed) as failure:
        runtime.up()
    report = failure.value.report()
    assert "step failed: start main-api" in report
    assert f"port {busy_port} is already in use" in report
    assert State.load(state_dir) is None  # nothing is recorded as up
    logs = state_dir / "logs"
    # The emulator and aux-service had started (their logs stay for the post-mortem) ...
    assert (logs / "emulator.log").stat().st_size > 0
    assert (logs / "aux-service.log").exists()
    # ... and no process is left working in the stack's directories.
    assert _processes_under(state_dir) == []


def _processes_under(directory: Path) -> list[int]:
    """PIDs whose working directory lies inside `directory`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = (proc / "cwd").readlink()
        except OSError:
            continue
        if cwd == directory or directory in cwd.parents:
            found.append(int(proc.name))
    return found


def _failing_first_apply(monkeypatch: pytest.MonkeyPatch, state_dir: Path, tail: str) -> list[int]:
    """Fault injection: the first `terraform apply` fails with `tail` before it runs (the
    real one runs after); returns the emulator PIDs the failed attempts had started."""
    real = terraform.apply
    emulators: list[int] = []

    def apply(*args: Any, **kwargs: Any) -> dict[str, float]:
        if not emulators:
            state = State.load(state_dir)
            assert state is not None
            emulators.append(state.components["emulator"].process.pid)
            raise StepFailed("terraform apply", "exit status 1", ["terraform", "apply"], None, tail)
        return real(*args, **kwargs)

    monkeypatch.setattr(terraform, "apply", apply)
    return emulators


def test_a_create_the_fresh_emulator_already_holds_is_retried_once_from_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / "stack"
    runtime = _runtime(state_dir)
    duplicate = (
        "Error: creating IAM Role (kontaxa-cluster-autoscaler): operation error IAM: "
        "CreateRole, https response error StatusCode: 409, EntityAlreadyExists: Role with "
        "name kontaxa-cluster-autoscaler already exists."
    )
    first_emulator = _failing_first_apply(monkeypatch, state_dir, duplicate)
    try:
        state = runtime.up()
        assert state is not None
        assert all(http_ok(c.ready_url) for c in state.components.values())
        assert state.components["emulator"].process.pid != first_emulator[0]
        assert not _alive(first_emulator[0])  # the failed attempt's emulator was stopped
        assert "once more from nothing" in capsys.readouterr().err
    finally:
        runtime.down()
    assert _processes_under(state_dir) == []


def test_the_same_failure_from_an_empty_emulator_is_called_a_conflict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two resources of one name fail every bring-up: the second failure is raised, saying
    so, and nothing is tried a third time."""
    runtime = _runtime(tmp_path / "stack")
    tail = "EntityAlreadyExists: Role with name kontaxa-app already exists."
    attempts: list[str] = []

    def fail(name: str) -> Callable[[], None]:
        def attempt() -> None:
            attempts.append(name)
            raise StepFailed("terraform apply", "exit status 1", ["terraform"], None, tail)

        return attempt

    with pytest.raises(StepFailed, match="terraform apply"):
        runtime._again_if_resent(fail("first"), fail("again"))
    assert attempts == ["first", "again"]
    err = capsys.readouterr().err
    assert "once more from nothing" in err
    assert "conflict in the configuration itself" in err


def _apply_error(address: str) -> str:
    """The end of Terraform's output for a create the emulator already held (as in CI)."""
    return (
        "Error: creating IAM Role (kontaxa-grafana): operation error IAM: CreateRole, https "
        "response error StatusCode: 409, RequestID: r, EntityAlreadyExists: Role with name "
        f"kontaxa-grafana already exists.\n\n  with {address},\n  on ../../modules/irsa/main.tf "
        'line 32, in resource "aws_iam_role" "this":\n  32: resource "aws_iam_role" "this" {'
    )


def _attempts(tails: list[str], attempts: list[int]) -> Callable[[], str]:
    """A bring-up that fails with each of `tails` in turn, then succeeds."""

    def attempt() -> str:
        attempts.append(len(attempts) + 1)
        if len(attempts) <= len(tails):
            tail = tails[len(attempts) - 1]
            raise StepFailed("terraform apply", "exit status 1", ["terraform"], None, tail)
        return "up"

    return attempt


def test_a_create_resent_on_another_resource_each_time_is_tried_a_third_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A loaded machine once resent a create in two bring-ups in a row, on two resources
    (CI, 2026-12-04: the grafana role, then the cluster's OIDC provider): no conflict of the
    configuration's own, so a third bring-up from an empty emulator is made."""
    runtime = _runtime(tmp_path / "stack")
    attempts: list[int] = []
    bring_up = _attempts(
        [
            _apply_error("module.platform.module.grafana_irsa.aws_iam_role.this"),
            _apply_error("module.platform.module.eks.aws_iam_openid_connect_provider.this[0]"),
        ],
        attempts,
    )
    assert runtime._again_if_resent(bring_up, bring_up) == "up"
    assert attempts == [1, 2, 3]
    assert capsys.readouterr().err.count("once more from nothing") == 2


def test_the_same_resource_failing_twice_is_called_a_conflict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = _runtime(tmp_path / "stack")
    attempts: list[int] = []
    role = _apply_error("module.platform.module.grafana_irsa.aws_iam_role.this")
    bring_up = _attempts([role, role], attempts)
    with pytest.raises(StepFailed, match="terraform apply"):
        runtime._again_if_resent(bring_up, bring_up)
    assert attempts == [1, 2]
    assert "conflict in the configuration itself" in capsys.readouterr().err


def test_creates_resent_in_every_bring_up_stop_after_the_last_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = _runtime(tmp_path / "stack")
    attempts: list[int] = []
    tails = [_apply_error(f"module.platform.aws_iam_role.r{n}") for n in range(5)]
    bring_up = _attempts(tails, attempts)
    with pytest.raises(StepFailed, match="terraform apply"):
        runtime._again_if_resent(bring_up, bring_up)
    assert attempts == [1, 2, 3]  # the first and AGAIN_AT_MOST more
    err = capsys.readouterr().err
    assert "too busy for the emulator" in err
    assert "conflict in the configuration itself" not in err


def test_any_other_apply_failure_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir = tmp_path / "stack"
    runtime = _runtime(state_dir)
    emulators = _failing_first_apply(
        monkeypatch, state_dir, 'Error: Invalid value for variable "name_prefix"'
    )
    with pytest.raises(StepFailed, match="terraform apply"):
        runtime.up()
    assert len(emulators) == 1  # one attempt
    assert State.load(state_dir) is None
    assert not _alive(emulators[0])
    assert _processes_under(state_dir) == []


def test_a_restore_that_met_a_resent_create_is_done_again_on_an_empty_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator restarted empty (the e2e fault tests do this): Terraform writes new secret
    values. One that failed on a create the SDK sent twice left the pods on the old values,
    every request 401 (ci, 2026-12-02); the restore now starts over on an empty emulator (the
    fault injected: the first apply fails with that error)."""
    import json

    import httpx

    from kontaxa_local.emulator import emulator_session

    state_dir = tmp_path / "stack"
    runtime = ProcessRuntime(
        Settings(
            runtime="process",
            state_dir=state_dir,
            ports={"main-api": 0, "aux-service": 0, "emulator": 0},
            monitoring=False,  # not what this is about
        ),
        Executor(),
    )
    duplicate = "Error: creating IAM Role (x): EntityAlreadyExists: Role x already exists."
    try:
        state = runtime.up()
        assert state is not None
        failed = _failing_first_apply(monkeypatch, state_dir, duplicate)
        runtime.stop_component("emulator")
        runtime.start_component("emulator")
        runtime.restore_emulator()
        restored = State.load(state_dir)
        assert restored is not None
        assert restored.components["emulator"].process.pid != failed[0]
        assert not _alive(failed[0])
        secrets = emulator_session().client("secretsmanager", endpoint_url=state.emulator_url)
        token = secrets.get_secret_value(SecretId="kontaxa/service-token")["SecretString"]
        keys = json.loads(secrets.get_secret_value(SecretId="kontaxa/api-keys")["SecretString"])
        aux = state.components["aux-service"].url + "/buckets"
        assert httpx.get(aux, headers={"X-Service-Token": token}).status_code == 200
        main = state.components["main-api"].url + "/parameters/welcome-message"
        key = {"Authorization": f"Bearer {keys['primary']}"}
        assert httpx.get(main, headers=key).status_code == 200
    finally:
        runtime.down()
    assert _processes_under(state_dir) == []


def test_a_failed_steps_message_ends_with_its_log_tail() -> None:
    """Where only str() is shown (a test's failure in CI), the cause is in it."""
    tail = "\n".join(f"line {n}" for n in range(20))
    message = str(StepFailed("terraform apply", "exit status 1", ["terraform"], None, tail))
    assert message.splitlines() == [
        "terraform apply: exit status 1",
        *(f"  line {n}" for n in range(12, 20)),
    ]
    assert (
        str(StepFailed("start x", "port 1 is already in use"))
        == "start x: port 1 is already in use"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


class DyingEmulator(ProcessRuntime):
    """Fault injection: an emulator whose process exits, after Terraform has started."""

    def _emulator_launch(self, plan: Any, port: int) -> tuple[list[str], dict[str, str]]:
        return [sys.executable, "-c", "import time; time.sleep(2); raise SystemExit(3)"], {}


def test_an_emulator_that_dies_while_terraform_starts_stops_terraform(tmp_path: Path) -> None:
    """Terraform starts beside the emulator; when the emulator fails, Terraform is stopped
    (its AWS SDK would retry the refused connection for minutes) and the emulator's failure
    is what is raised."""
    state_dir = tmp_path / "stack"
    settings = Settings(runtime="process", state_dir=state_dir, ports={"emulator": 0})
    with pytest.raises(StepFailed) as failure:
        DyingEmulator(settings, Executor()).up()
    assert failure.value.step == "start emulator"
    assert failure.value.reason == "the process exited"
    stopped = failure.value.__cause__
    assert isinstance(stopped, StepFailed)
    assert stopped.step == "terraform apply"
    assert stopped.reason == "stopped: a step beside it failed"
    assert State.load(state_dir) is None
    assert _processes_under(state_dir) == []
    assert _terraform_of(state_dir) == []


def _terraform_of(state_dir: Path) -> list[int]:
    """PIDs of Terraform processes working on this stack's state, and of its provider
    plugins (their binaries are in the stack's cache)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if str(state_dir).encode() in command:
            found.append(int(proc.name))
    return found
