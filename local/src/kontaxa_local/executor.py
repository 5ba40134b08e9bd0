"""Runs or, in dry-run mode, prints (and records) every command and manifest, in order.

Both runtimes go through an Executor, so `--dry-run` shows exactly what `up`
would do, and tests can assert the recorded plan.
"""

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kontaxa_local import console, procs
from kontaxa_local.errors import StepFailed

# How often a command that may be cancelled is checked for it (run_command's `cancel`).
CANCEL_POLL = 0.1


@dataclass
class Action:
    """One thing the runner does: a command, a manifest applied, a spawned process or a wait."""

    kind: str  # "run", "apply", "spawn", "wait", "write"
    what: str
    command: list[str] = field(default_factory=list)
    manifest: str = ""
    env: dict[str, str] = field(default_factory=dict)


class Executor:
    """Executes actions for real; subclasses may only print and record them."""

    dry_run = False

    def __init__(self) -> None:
        self.actions: list[Action] = []

    def run(
        self,
        step: str,
        command: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        input_text: str | None = None,
        log: Path | None = None,
        timeout: float = 900,
        cancel: threading.Event | None = None,
    ) -> str:
        """Run `command` to completion and return its output; raise StepFailed on failure,
        or when `cancel` is set while it runs (it is then killed)."""
        self.actions.append(Action("run", step, list(command), env=dict(env or {})))
        return run_command(
            step,
            command,
            env=env,
            cwd=cwd,
            input_text=input_text,
            log=log,
            timeout=timeout,
            cancel=cancel,
        )

    def apply(self, step: str, manifest: str, command: list[str]) -> None:
        """Apply a manifest with `command` (which reads it on stdin)."""
        self.actions.append(Action("apply", step, list(command), manifest=manifest))
        run_command(step, command, input_text=manifest)

    def wait(
        self,
        step: str,
        check: Callable[[], bool],
        timeout: float,
        interval: float = 2.0,
        on_timeout: Callable[[], StepFailed] | None = None,
    ) -> None:
        """Poll `check` until true; raise StepFailed after `timeout` seconds."""
        self.actions.append(Action("wait", step))
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise on_timeout() if on_timeout else StepFailed(step, f"not done in {timeout}s")
            time.sleep(interval)

    def record(
        self,
        kind: str,
        step: str,
        command: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        manifest: str = "",
    ) -> bool:
        """Record an action done in Python; returns True when it should really be done."""
        self.actions.append(Action(kind, step, list(command or []), manifest, dict(env or {})))
        return True


class DryRunExecutor(Executor):
    """Prints every action in order instead of doing it."""

    dry_run = True

    def _show(self, action: Action) -> None:
        self.actions.append(action)
        console.console.print(f"[bold]{len(self.actions):>3}. {action.kind}[/] {action.what}")
        if action.env:
            for key, value in sorted(action.env.items()):
                console.console.print(f"       env {key}={value}")
        if action.command:
            console.console.print("       $ " + " ".join(action.command))
        if action.manifest:
            console.console.print("       ---\n" + _indent(action.manifest.rstrip(), 7))

    def run(self, step: str, command: list[str], **kwargs: object) -> str:
        """Print the command."""
        env = kwargs.get("env")
        self._show(
            Action("run", step, list(command), env=dict(env) if isinstance(env, dict) else {})
        )
        return ""

    def apply(self, step: str, manifest: str, command: list[str]) -> None:
        """Print the manifest and the command that would apply it."""
        self._show(Action("apply", step, list(command), manifest=manifest))

    def wait(
        self,
        step: str,
        check: Callable[[], bool],
        timeout: float,
        interval: float = 2.0,
        on_timeout: Callable[[], StepFailed] | None = None,
    ) -> None:
        """Print what would be waited for."""
        self._show(Action("wait", f"{step} (up to {timeout:.0f}s)"))

    def record(
        self,
        kind: str,
        step: str,
        command: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        manifest: str = "",
    ) -> bool:
        """Print the action; it must not be done."""
        self._show(Action(kind, step, list(command or []), manifest, dict(env or {})))
        return False


def _indent(text: str, width: int) -> str:
    return "\n".join(" " * width + line for line in text.splitlines())


def run_command(
    step: str,
    command: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input_text: str | None = None,
    log: Path | None = None,
    timeout: float = 900,
    cancel: threading.Event | None = None,
) -> str:
    """Run a command; on failure raise StepFailed with its last output lines.

    With `cancel`, the command is killed as soon as the event is set (checked every
    CANCEL_POLL seconds), and StepFailed says it was stopped.
    """
    try:
        process = subprocess.Popen(  # noqa: S603 - the runner's own commands
            command,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.PIPE if input_text is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except FileNotFoundError as exc:
        raise StepFailed(step, f"{command[0]} is not installed or not on PATH", command) from exc
    deadline = time.monotonic() + timeout
    pending = input_text  # sent by the first communicate() only
    while True:
        left = deadline - time.monotonic()
        try:
            stdout, stderr = process.communicate(
                pending, timeout=max(0.0, min(left, CANCEL_POLL) if cancel else left)
            )
            break
        except subprocess.TimeoutExpired:
            pending = None
            stopped = cancel is not None and cancel.is_set()
            if stopped or time.monotonic() >= deadline:
                _kill_with_descendants(process)
                process.communicate()
                reason = "stopped: a step beside it failed" if stopped else None
                raise StepFailed(
                    step, reason or f"timed out after {timeout:.0f}s", command
                ) from None
    output = stdout + stderr
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.write(f"$ {' '.join(command)}\n{output}\n")
    if process.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise StepFailed(step, f"exit status {process.returncode}", command, log, tail)
    return stdout


def _kill_with_descendants(process: subprocess.Popen[str]) -> None:
    """SIGKILL a command and every process it started: killed alone, Terraform leaves its
    provider plugins running, reparented to init (seen: an AWS provider of 420 MB still up
    minutes after a cancelled apply)."""
    started = procs.descendants(process.pid)  # before the kill, which reparents them
    process.kill()
    for pid in started:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
