"""What `serve` does once the app is built: the garbage-collector freeze, and the CPU
scheduling policy (where the OS refuses or lacks it; a real main-api process under it is
services/main-api/tests/test_cpu_scheduling.py)."""

import gc
import logging
import os
import threading
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from kontaxa_common.server import build_frozen, schedule_in_batches
from kontaxa_common.settings import ServiceSettings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Start with nothing frozen and leave nothing frozen for the tests that follow."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_the_built_app_and_everything_before_it_leave_the_collectors_generations() -> None:
    app = build_frozen("fastapi:FastAPI")

    assert isinstance(app, FastAPI)
    tracked = gc.get_objects()
    # A full collection no longer walks the app, its routes or the modules: nothing that
    # existed when the app was built is in any generation.
    assert not any(obj is app for obj in tracked)
    assert not any(obj is app.router for obj in tracked)
    assert gc.get_freeze_count() > 10_000
    assert len(tracked) < 1_000


@pytest.mark.usefixtures("unfrozen")
def test_what_the_app_allocates_later_is_collected_as_before() -> None:
    build_frozen("fastapi:FastAPI")

    class Node:
        def __init__(self) -> None:
            self.me = self

    cycle = Node()
    assert any(obj is cycle for obj in gc.get_objects())
    del cycle
    assert gc.collect() >= 1


@pytest.fixture
def parked_thread() -> Iterator[int]:
    """A second thread, started before the policy is set, parked until the test ends; its ID."""
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="parked")
    thread.start()
    assert thread.native_id is not None
    try:
        yield thread.native_id
    finally:
        release.set()
        thread.join()


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is a Linux policy")
def test_threads_started_before_are_set_and_off_sets_the_default_back(parked_thread: int) -> None:
    assert os.sched_getscheduler(parked_thread) == os.SCHED_OTHER
    try:
        schedule_in_batches(ServiceSettings())
        assert os.sched_getscheduler(parked_thread) == os.SCHED_BATCH
        assert os.sched_getscheduler(0) == os.SCHED_BATCH
    finally:
        # Off sets the default policy (raising SCHED_BATCH back to it needs no privilege).
        schedule_in_batches(ServiceSettings(cpu_batch_scheduling=False))
    assert os.sched_getscheduler(parked_thread) == os.SCHED_OTHER
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


@pytest.mark.usefixtures("parked_thread")
def test_a_refused_policy_leaves_the_service_running_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def refuse(pid: int, policy: int, param: object) -> None:
        calls.append(pid)
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "SCHED_BATCH", 3, raising=False)
    monkeypatch.setattr(os, "SCHED_OTHER", 0, raising=False)
    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    assert len(os.listdir("/proc/self/task")) >= 2  # the parked thread: two to ask about
    with caplog.at_level(logging.WARNING, logger="kontaxa_common.server"):
        schedule_in_batches(ServiceSettings())
    assert len(calls) == 1  # the first refusal ends the attempt
    assert [r.getMessage() for r in caplog.records] == [
        "the threads stay under the CPU scheduling policy they started with: SCHED_BATCH was "
        "refused (Operation not permitted); set CPU_BATCH_SCHEDULING=false to not ask"
    ]


def test_where_the_os_has_no_such_policy_nothing_is_asked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("sched_setscheduler called")

    monkeypatch.delattr(os, "SCHED_BATCH", raising=False)
    monkeypatch.setattr(os, "sched_setscheduler", fail, raising=False)
    with caplog.at_level(logging.DEBUG, logger="kontaxa_common.server"):
        schedule_in_batches(ServiceSettings())
        schedule_in_batches(ServiceSettings(cpu_batch_scheduling=False))
    assert caplog.records == []


def test_a_thread_that_ended_meanwhile_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    listed = [str(threading.get_native_id()), "999999999"]  # the second one has ended

    def set_policy(pid: int, policy: int, param: object) -> None:
        asked.append(pid)
        if pid == 999999999:
            raise ProcessLookupError(3, "No such process")

    monkeypatch.setattr(os, "SCHED_BATCH", 3, raising=False)
    monkeypatch.setattr(os, "listdir", lambda path: [*listed, *listed[:1]])
    monkeypatch.setattr(os, "sched_setscheduler", set_policy, raising=False)
    schedule_in_batches(ServiceSettings())
    assert asked == [int(listed[0]), 999999999, int(listed[0])]  # on past the ended one
