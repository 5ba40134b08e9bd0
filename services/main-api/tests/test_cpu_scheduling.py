"""The CPU scheduling policy of a real `python -m main_api` process (CPU_BATCH_SCHEDULING).

main-api's event loop hands every call to aux-service to pyreqwest's runtime thread and gets
the reply back from it; under SCHED_BATCH neither preempts the other on a busy core
(kontaxa_common.server.schedule_in_batches, docs/performance.md). The policy must hold for
every thread, the client's included, which is started after the app is built.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from kontaxa_e2e.inprocess import Keys
from kontaxa_e2e.servers import wait_for_port
from kontaxa_local.process_runtime import free_port

from .conftest import process_env

pytestmark = pytest.mark.skipif(
    not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is a Linux scheduling policy"
)


def _default_policy() -> None:
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


@contextmanager
def _main_api(tmp_path: Path, **env: str) -> Iterator[int]:
    """A main-api process whose aux-service does not answer, after one call to it; its PID."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "main_api"],
        env=process_env(Keys().write(tmp_path), port, free_port(), AUX_MAX_RETRIES="0", **env),
        stderr=subprocess.DEVNULL,
        # Started under the default policy whatever pytest runs under: the service sets its own.
        preexec_fn=_default_policy,
    )
    try:
        wait_for_port(port, timeout=30)
        # /version asks aux-service: the client's runtime thread runs from here on.
        assert httpx.get(f"http://127.0.0.1:{port}/version", timeout=10).status_code == 200
        yield process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _policies(pid: int) -> dict[str, int]:
    """Each thread's name (with its ID) and scheduling policy."""
    tasks = Path(f"/proc/{pid}/task")
    return {
        f"{(task / 'comm').read_text().strip()}/{task.name}": os.sched_getscheduler(int(task.name))
        for task in tasks.iterdir()
    }


def test_every_thread_the_client_s_included_runs_under_sched_batch(tmp_path: Path) -> None:
    with _main_api(tmp_path) as pid:
        policies = _policies(pid)
    assert any(name.startswith("pyreqwest/") for name in policies), policies
    assert set(policies.values()) == {os.SCHED_BATCH}, policies


def test_switched_off_every_thread_keeps_the_default_policy(tmp_path: Path) -> None:
    with _main_api(tmp_path, CPU_BATCH_SCHEDULING="false") as pid:
        policies = _policies(pid)
    assert any(name.startswith("pyreqwest/") for name in policies), policies
    assert set(policies.values()) == {os.SCHED_OTHER}, policies
