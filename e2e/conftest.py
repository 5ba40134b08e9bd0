"""The e2e suite's target, chosen with --target (process by default; see kontaxa_e2e.targets)."""

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kontaxa_e2e.targets import ProcessTarget, Target, UrlTarget

TARGETS = ("process", "containers", "kind", "url")
REQUIRE_CONTAINERS = "KONTAXA_REQUIRE_CONTAINERS"
# How long a stack may take to be whole again after a test before it counts as left broken.
WHOLE_AGAIN_SECONDS = 10


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kontaxa e2e")
    group.addoption(
        "--target",
        default="process,containers",
        help="comma-separated targets the e2e suite runs against: process, containers, kind, "
        "url (default: process,containers; containers skips where no Docker engine answers)",
    )
    group.addoption("--main-url", help="url target: main-api's base URL")
    group.addoption("--aux-url", help="url target: aux-service's base URL")
    group.addoption("--emulator-url", help="url target: the AWS emulator's URL")
    group.addoption(
        "--aux-metrics-url",
        help="url target: aux-service's metrics port (base URL); tests reading its metrics skip "
        "without it",
    )
    group.addoption(
        "--expected-git-sha",
        help="url target: the commit the stack was built from (what both services' git_sha "
        "must say); the check skips without it",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--expected-git-sha") and config.getoption("--target") != "url":
        raise pytest.UsageError(
            "--expected-git-sha is for --target url alone; the other targets know the commit "
            "they run"
        )
    config.addinivalue_line("markers", "kind_only: runs only against the kind target")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        targets = [t.strip() for t in metafunc.config.getoption("--target").split(",")]
        unknown = set(targets) - set(TARGETS)
        if unknown:
            raise pytest.UsageError(f"--target: unknown {sorted(unknown)}; choose from {TARGETS}")
        params: list[Any] = targets
        if metafunc.definition.get_closest_marker("kind_only"):
            skip = pytest.mark.skip(reason="Argo CD runs only on the kind target (--target kind)")
            params = ["kind"] if "kind" in targets else [pytest.param("kind", marks=skip)]
        metafunc.parametrize("target", params, indirect=True, scope="session")


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The running stack under test, brought up (and down) by the suite where it can be."""
    option = request.config.getoption
    kind = request.param
    running: Target
    if kind == "process":
        running = ProcessTarget(request.getfixturevalue("tmp_path_factory").mktemp("stack"))
    elif kind == "containers":
        from kontaxa_e2e.containers import ContainersTarget, docker_unavailable_reason

        reason = docker_unavailable_reason()
        if reason:
            if os.environ.get(REQUIRE_CONTAINERS) == "1":
                pytest.fail(
                    f"containers target: {reason}, but {REQUIRE_CONTAINERS}=1", pytrace=False
                )
            pytest.skip(f"containers target: {reason}")
        running = ContainersTarget()
    elif kind == "kind":
        from kontaxa_e2e.kind import KindTarget

        running = KindTarget(request.getfixturevalue("tmp_path_factory").mktemp("kind"))
    else:
        urls = [option("--main-url"), option("--aux-url"), option("--emulator-url")]
        if not all(urls):
            raise pytest.UsageError("--target url needs --main-url, --aux-url and --emulator-url")
        running = UrlTarget(
            *urls,
            aux_metrics_url=option("--aux-metrics-url"),
            source_revision=option("--expected-git-sha"),
        )
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(autouse=True)
def _stack_left_whole(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test on a target: the stack must be whole again (every part ready, every
    pod's secrets the emulator's). One a test left broken is brought up anew and that test
    errors, so one failure stays one and is not repeated by every test after it (ci,
    2026-12-02: a failed restore of the emulator turned into 22 more failures)."""
    if "target" not in request.fixturenames:
        yield
        return
    target: Target = request.getfixturevalue("target")
    if target.lost:
        pytest.fail(
            f"the {target.name} stack was left broken and could not be brought up anew "
            f"({target.lost})",
            pytrace=False,
        )
    yield
    problem = target.broken()
    deadline = time.monotonic() + WHOLE_AGAIN_SECONDS
    while problem and time.monotonic() < deadline:  # a part may be finishing a restart
        time.sleep(0.5)
        problem = target.broken()
    if problem:
        try:
            target.rebuild()
        except Exception as exc:
            target.lost = f"{type(exc).__name__}: {exc}"
            raise
        pytest.fail(
            f"the test left the {target.name} stack broken ({problem}); it was brought up "
            "anew for the tests after it",
            pytrace=False,
        )


@pytest.fixture
def disturbable(target: Target) -> Target:
    """The target, for tests that stop components; skipped where that is impossible."""
    if not target.can_disturb:
        pytest.skip(f"the {target.name} target cannot stop or restart components")
    return target


@pytest.fixture
def main(target: Target) -> Iterator[httpx.Client]:
    """A client for main-api."""
    with httpx.Client(base_url=target.main_url, timeout=30) as client:
        yield client


@pytest.fixture
def aux(target: Target) -> Iterator[httpx.Client]:
    """A client for aux-service (internal: reachable here only because the target maps it)."""
    with httpx.Client(base_url=target.aux_url, timeout=30) as client:
        yield client


@pytest.fixture
def auth(target: Target) -> Callable[[], dict[str, str]]:
    """Headers with the current API key (read fresh: a rotation may have changed it)."""
    return lambda: {"Authorization": f"Bearer {target.api_key()}"}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return Path(__file__).resolve().parents[1]
