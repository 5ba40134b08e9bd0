"""Detached host processes, recorded by PID (and start time, so a reused PID is never killed)."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ProcessRecord:
    """A process the runner started."""

    name: str
    pid: int
    start_ticks: int
    command: list[str]
    log: str
    env: dict[str, str]
    cwd: str

    def alive(self) -> bool:
        """True while this very process (not a PID reused since) runs."""
        return _start_ticks(self.pid) == self.start_ticks


def _stat(pid: int | str) -> list[str] | None:
    """/proc/PID/stat's fields after the command's name (state, parent's PID, ...), or None
    when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22)."""
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":  # a zombie has exited
        return None
    return int(fields[19])


def descendants(pid: int) -> list[int]:
    """The PIDs of the processes `pid` started, and those they started, and so on (none
    where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(entry.name)
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    parents = [pid]
    while parents:
        offspring = children.get(parents.pop(), [])
        found += offspring
        parents += offspring
    return found


def spawn(
    name: str, command: list[str], env: Mapping[str, str], log: Path, cwd: Path
) -> ProcessRecord:
    """Start `command` in its own session, output appended to `log`; it outlives the runner."""
    log.parent.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - commands come from our manifests and settings
            command,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ticks = None
    for _ in range(50):
        ticks = _start_ticks(process.pid)
        if ticks is not None:
            break
        time.sleep(0.01)
    return ProcessRecord(
        name, process.pid, ticks or -1, list(command), str(log), dict(env), str(cwd)
    )


def respawn(record: ProcessRecord) -> ProcessRecord:
    """Start a stopped process again with its recorded command, env and directory."""
    return spawn(record.name, record.command, record.env, Path(record.log), Path(record.cwd))


def stop(record: ProcessRecord, grace: float = 25.0) -> bool:
    """SIGTERM the process group, SIGKILL after `grace` seconds; False if it was already gone."""
    if not record.alive():
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while record.alive() and time.monotonic() < deadline:
        _reap(record.pid)
        time.sleep(0.05)
    if record.alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pid, signal.SIGKILL)
        for _ in range(100):
            _reap(record.pid)
            if not record.alive():
                break
            time.sleep(0.02)
    _reap(record.pid)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (tests start it in-process)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def tail(path: Path | str, lines: int = 20) -> str:
    """The last `lines` lines of a log file ("" when absent)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
