"""run_command: output, failures, timeouts, and cancellation by a step beside it."""

import os
import threading
import time
from pathlib import Path

import pytest

from kontaxa_local.errors import StepFailed
from kontaxa_local.executor import run_command


def _sleeper(pid_file: Path) -> list[str]:
    """A command that writes its PID, then sleeps far longer than any test waits."""
    return ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 300"]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_output_and_input_pass_through() -> None:
    assert run_command("echo", ["cat"], input_text="hello\n") == "hello\n"


def test_a_failure_carries_the_output_tail() -> None:
    with pytest.raises(StepFailed) as failure:
        run_command("fail", ["sh", "-c", "echo one; echo two >&2; exit 4"])
    assert failure.value.reason == "exit status 4"
    assert failure.value.tail == "one\ntwo"


def test_a_command_over_its_timeout_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with pytest.raises(StepFailed) as failure:
        run_command("slow", _sleeper(pid_file), timeout=1)
    assert failure.value.reason == "timed out after 1s"
    assert _gone(int(pid_file.read_text()))


def test_a_cancelled_command_is_killed_and_says_so(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    try:
        with pytest.raises(StepFailed) as failure:
            run_command("terraform apply", _sleeper(pid_file), cancel=cancel)
    finally:
        timer.cancel()
    assert failure.value.reason == "stopped: a step beside it failed"
    assert _gone(int(pid_file.read_text()))


def _ended(pid: int, within: float = 5.0) -> bool:
    """Whether `pid` is gone or a zombie (an orphan its new parent has not reaped) in time."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat[stat.rindex(")") + 2] == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="descendants are read in /proc")
def test_what_a_cancelled_command_started_is_killed_with_it(tmp_path: Path) -> None:
    """As Terraform starts its provider plugins: a child with output of its own, which
    killing the command alone leaves running under init."""
    pid_file = tmp_path / "child"
    command = ["sh", "-c", f"sleep 300 >/dev/null 2>&1 & echo $! > {pid_file}; wait"]
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    try:
        with pytest.raises(StepFailed, match="stopped"):
            run_command("terraform apply", command, cancel=cancel)
    finally:
        timer.cancel()
    assert _ended(int(pid_file.read_text()))


def test_a_command_that_ends_is_not_cancelled_after_the_fact() -> None:
    cancel = threading.Event()
    assert run_command("quick", ["echo", "done"], cancel=cancel) == "done\n"
    cancel.set()  # set after the end: nothing to stop, nothing raised
