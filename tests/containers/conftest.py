"""Container tier: builds the images once per run and hands them to the tests.

Where no Docker engine answers, every test that needs one is skipped with one line saying
why; with KONTAXA_REQUIRE_CONTAINERS=1 (set by .ci/run when it started an engine) that
skip becomes a failure, so a run that should have exercised the images cannot pass
without them.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# catalog.py is a standalone module beside this file.
sys.path.insert(0, str(Path(__file__).parent))
from catalog import GOLDEN, ROOT, SERVICE_IMAGES, TAG

from kontaxa_e2e.docker_run import docker_unavailable_reason, remove_leftovers

REQUIRE_ENV = "KONTAXA_REQUIRE_CONTAINERS"
# A cold build (base from debootstrap included) takes about two minutes here.
BUILD_TIMEOUT = 1800


SKIP_PREFIX = "container tier skipped:"


def _no_engine(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"container tier: {reason}, but {REQUIRE_ENV}=1 requires it", pytrace=False)
    pytest.skip(f"{SKIP_PREFIX} {reason}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Report every skip for want of an engine at one place, so `-ra` prints one line."""
    report = yield
    longrepr = getattr(report, "longrepr", None)
    if report.skipped and isinstance(longrepr, tuple) and SKIP_PREFIX in str(longrepr[2]):
        report.longrepr = (__file__, 1, longrepr[2])
    return report


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    """A Docker engine that answers (else skip, or fail under KONTAXA_REQUIRE_CONTAINERS=1)."""
    reason = docker_unavailable_reason()
    if reason:
        _no_engine(reason)
    yield
    remove_leftovers()


@pytest.fixture(scope="session")
def built_images(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Every image, built once per run by scripts/images/build.sh (cached layers reused)."""
    log = tmp_path_factory.mktemp("images") / "build.log"
    with log.open("w") as output:
        result = subprocess.run(
            [str(ROOT / "scripts/images/build.sh")],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
            check=False,
            env={**os.environ, "IMAGE_TAG": TAG, "BUILD_PROGRESS": "plain"},
        )
    if result.returncode != 0:
        pytest.fail(
            f"scripts/images/build.sh failed ({result.returncode}); its log ends:\n"
            + log.read_text()[-6000:],
            pytrace=False,
        )
    return [GOLDEN] + [image.ref for image in SERVICE_IMAGES]
