"""docs/api-testing.md: every curl example, run against a live stack, answers as the doc shows."""

import re

import pytest
from api_examples import API_DOC, Example, Response, parse_examples, run_all

from kontaxa_e2e.targets import ProcessTarget
from kontaxa_local.executor import Executor
from kontaxa_local.process_runtime import ProcessRuntime
from kontaxa_local.settings import MAIN_SERVICE, REPO_ROOT, Settings

EXAMPLES = parse_examples(API_DOC.read_text())


@pytest.fixture(scope="module")
def results(docs_stack: ProcessTarget) -> dict[int, Response | Exception]:
    """Each example's response from the stack, by the line of its command in the doc."""
    return dict(zip((e.line for e in EXAMPLES), run_all(EXAMPLES, docs_stack), strict=True))


def test_the_doc_has_the_required_examples() -> None:
    """Each endpoint and each error case the API promises has an example."""
    commands = [e.command for e in EXAMPLES]
    for path in ("/health", "/version", "/buckets", "/parameters", "/parameters/"):
        assert any(f"$MAIN_URL{path}" in c for c in commands), path
    statuses = {e.expected.status for e in EXAMPLES}
    assert {200, 400, 401, 404, 405, 503} <= statuses
    assert any(e.stopped == ("aux-service",) and e.expected.status == 503 for e in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"line{e.line}" for e in EXAMPLES])
def test_example_answers_as_documented(
    example: Example, results: dict[int, Response | Exception]
) -> None:
    from api_examples import compare_responses

    result = results[example.line]
    if isinstance(result, Exception):
        raise result
    problems = compare_responses(example.expected, result)
    assert not problems, (
        f"docs/api-testing.md:{example.line} `{example.command}` answers otherwise "
        "(if the API changed on purpose: ./task docs:api-examples, then read the diff):\n  "
        + "\n  ".join(problems)
    )


def test_setup_block_uses_the_runner_defaults() -> None:
    """MAIN_URL, AUX_URL and the key files of the setup block are where local-up puts them."""
    text = API_DOC.read_text()
    settings = Settings.from_env({})
    runtime = ProcessRuntime(settings, Executor())
    expected = {
        "MAIN_URL": f"http://127.0.0.1:{settings.port(MAIN_SERVICE)}",
        "AUX_URL": f"http://127.0.0.1:{settings.port('aux-service')}",
        "API_KEY": "$(cat {})".format(
            (runtime.host_path(MAIN_SERVICE, "/mnt/secrets") / "api-key-primary").relative_to(
                REPO_ROOT
            )
        ),
        "SERVICE_TOKEN": "$(cat {})".format(
            (runtime.host_path("aux-service", "/mnt/secrets") / "service-token").relative_to(
                REPO_ROOT
            )
        ),
    }
    for name, value in expected.items():
        assert re.search(rf"^{name}={re.escape(value)}$", text, re.MULTILINE), (name, value)
