"""Root conftest: registers the shared fixtures of kontaxa_e2e for every test tier, and
schedules the tests of `task test` on its two workers (pytest-xdist, `--dist loadfile`).

Each test file is one unit of work, run by one worker, so a file's module fixtures (an
emulator, a Terraform apply) start once. The e2e suite and the container tier are one unit
("stacks"): they share session fixtures (the stacks under test, the built images) and
measure latency (the soak, the resilience bounds), so they run last and alone: once both
workers are down to their last tests of everything else, one takes them and the other
stops. Before that, the files that take longest (Terraform applies, the services on Python
3.12, whole bring-ups) go first, so the two workers finish the rest close together.

The units come from `pytest_xdist_make_scheduler` below rather than `--dist loadgroup` with
`xdist_group` marks: pytest-xdist 3.8 names a group by rewriting `item._nodeid`, which
pytest 9.2 no longer reads (a node's id is `Node._id`), so under pytest 9.2 every test
would be a unit of its own and a file's fixtures would start on both workers.
"""

from typing import Any

import pytest

pytest_plugins = ["kontaxa_e2e.fixtures"]

STACKS = "stacks"
# Test files (or folders) that take the longest, started first (slowest first, as measured
# with --durations=0 in .ci/run).
LONGEST_FIRST = (
    "infra/terraform/tests/test_local_moto.py",
    "infra/terraform/tests/test_localstack_tflocal.py",
    "tests/test_python_versions.py",
    "infra/terraform/tests/test_tflocal_plan_task.py",
    "infra/terraform/tests/test_checkov.py",
    "local/tests/test_lifecycle.py",
    "tests/docs/test_api_examples.py",
)


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its file, or "stacks"."""
    path = nodeid.split("::", 1)[0]
    if path.startswith(("e2e/", "tests/containers/")):
        return STACKS
    return path


def _rank(unit: str) -> int:
    if unit == STACKS:
        return len(LONGEST_FIRST) + 1
    for rank, prefix in enumerate(LONGEST_FIRST):
        if unit.startswith(prefix):
            return rank
    return len(LONGEST_FIRST)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `--dist loadfile`: units as `unit_of` says (the other modes are xdist's own)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

    class FileUnits(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            if next(iter(self.workqueue)) != STACKS:
                super()._assign_work_unit(node)
                return
            # The last unit runs alone: the worker that finishes last gets it, and the
            # others stop. "Finishes": two tests or fewer left, as xdist counts it (a worker
            # holds its last test back until it gets more work or is told to stop).
            others = [work for other, work in self.assigned_work.items() if other is not node]
            if any(self._pending_of(work) > 2 for work in others):
                return
            super()._assign_work_unit(node)
            for other in self.nodes:
                if other is not node and not other.shutting_down:
                    other.shutdown()

    return FileUnits(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker, order the items so the units are handed out in `_rank` order
    (the scheduler hands them out in collection order, with --no-loadscope-reorder)."""
    if hasattr(config, "workerinput"):
        # A stable sort: within a rank, files keep their collection order.
        items.sort(key=lambda item: _rank(unit_of(item.nodeid)))
