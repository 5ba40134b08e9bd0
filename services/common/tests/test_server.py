"""The garbage-collector freeze that `serve` applies once the app is built."""

import gc
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from kontaxa_common.server import build_frozen


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
