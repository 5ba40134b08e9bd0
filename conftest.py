"""Root conftest: registers the shared fixtures of kontaxa_e2e for every test tier, and groups
the tests for `task test`'s two workers (pytest-xdist, `--dist loadgroup`).

Each test file is one group, run by one worker, so a file's module fixtures (an emulator, a
Terraform apply) start once. The e2e suite and the container tier are one group of their own
("stacks"): they share session fixtures (the stacks under test, the built images) and measure
latency (the soak, the resilience bounds), so they run last, when the other worker has
nothing left to start. The files that take longest (Terraform applies, the services on
Python 3.12, whole bring-ups) go first, so the two workers finish close together. With
`-n 0` the order is collection order and nothing changes.
"""

import pytest

pytest_plugins = ["kontaxa_e2e.fixtures"]

STACKS = "stacks"
# Test paths (or folders) that take the longest, started first (slowest first, as measured
# with --durations=0 in .ci/run).
LONGEST_FIRST = (
    "infra/terraform/tests/test_local_moto.py",
    "infra/terraform/tests/test_localstack_tflocal.py",
    "tests/test_python_versions.py",
    "infra/terraform/tests/test_tflocal_plan_task.py",
    "infra/terraform/tests/test_checkov.py",
    "local/tests/test_lifecycle.py",
    "tests/docs/",
)


def group_of(path: str) -> str:
    """The xdist group of a test file (a path relative to the repository root)."""
    if path.startswith(("e2e/", "tests/containers/")):
        return STACKS
    return path


def _rank(group: str) -> int:
    if group == STACKS:
        return len(LONGEST_FIRST) + 1
    for rank, prefix in enumerate(LONGEST_FIRST):
        if group.startswith(prefix):
            return rank
    return len(LONGEST_FIRST)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup` (an xdist worker's collection): group and order the items."""
    if not getattr(config.option, "loadgroup", False):
        return
    groups: dict[str, str] = {}
    for item in items:
        group = group_of(item.nodeid.split("::", 1)[0])
        groups[item.nodeid] = group
        item.add_marker(pytest.mark.xdist_group(group))
    # A stable sort: within a rank, files keep their collection order.
    items.sort(key=lambda item: _rank(groups[item.nodeid]))
