"""run_command: output, failures, timeouts, and cancellation by a step beside it."""

import os
import threading
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


def test_a_command_that_ends_is_not_cancelled_after_the_fact() -> None:
    cancel = threading.Event()
    assert run_command("quick", ["echo", "done"], cancel=cancel) == "done\n"
    cancel.set()  # set after the end: nothing to stop, nothing raised
