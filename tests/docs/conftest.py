"""The docs tests: one process-runtime stack per session, brought up by the e2e suite's target.

The helpers (`markdown_checks` here, `api_examples` and `diagram` in docs/tools) are plain
modules beside the tests and the docs they check.
"""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs/tools"))

from kontaxa_e2e.targets import ProcessTarget


@pytest.fixture(scope="session")
def docs_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessTarget]:
    """The process runtime in a private state directory on free ports (local-up, local-down)."""
    target = ProcessTarget(tmp_path_factory.mktemp("docs-stack"))
    try:
        yield target
    finally:
        target.close()
