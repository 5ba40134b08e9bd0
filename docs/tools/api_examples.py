"""The curl examples of docs/api-testing.md: parse them, run them, compare or rewrite the responses.

An example is a ```sh block whose command starts with `curl -si`, followed by the ```http block
of its response (status line, the headers worth showing, the JSON body). The command runs in
bash with MAIN_URL, AUX_URL, API_KEY and SERVICE_TOKEN set, exactly as a reader runs it.

A comment `<!-- docs-test: aux-service stopped -->` between two examples makes every example
after it, up to the next such comment, run with aux-service stopped. `<!-- docs-test: running -->`
ends that.

    uv run python docs/tools/api_examples.py --update   # bring up a stack, rewrite the responses

`tests/docs/test_api_examples.py` runs the same examples and compares status, headers and body
shape with the doc, values included except the volatile ones (request IDs, timestamps, commits).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs/api-testing.md"
VARIABLES = ("MAIN_URL", "AUX_URL", "API_KEY", "SERVICE_TOKEN")
# Headers shown in the doc, in this order, when the response has them.
SHOWN_HEADERS = (
    "content-type",
    "www-authenticate",
    "allow",
    "retry-after",
    "x-request-id",
    "x-main-api-version",
    "x-aux-service-version",
)
STOPPED_MARK = re.compile(r"<!--\s*docs-test:\s*([a-z-]+) stopped\s*-->")
RUNNING_MARK = re.compile(r"<!--\s*docs-test:\s*running\s*-->")
_FENCE = re.compile(r"^```([A-Za-z0-9_-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# Values that differ on every run: compared by form, not by value.
VOLATILE = {
    "request id": re.compile(r"[0-9a-f]{32}"),
    # git_sha: the commit the stack runs, `-dirty` with uncommitted changes (any clone's own)
    "commit": re.compile(r"[0-9a-f]{40}(-dirty)?"),
    "timestamp": re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"),
}


@dataclass
class Response:
    """An HTTP response as curl -si prints it."""

    status: int
    reason: str
    headers: dict[str, str]
    body: Any


@dataclass
class Example:
    """One curl example and the response the doc shows."""

    command: str
    response_text: str
    response_span: tuple[int, int]  # character offsets of the response block's content
    line: int
    stopped: tuple[str, ...] = field(default_factory=tuple)

    @property
    def expected(self) -> Response:
        """The response as the doc shows it."""
        return parse_response(self.response_text)


def parse_examples(text: str) -> list[Example]:
    """Every curl example of the doc, in order; raises ValueError on a malformed one."""
    blocks = list(_FENCE.finditer(text))
    examples = []
    stopped: tuple[str, ...] = ()
    previous_end = 0
    for index, block in enumerate(blocks):
        info, content = block.group(1), block.group(2)
        between = text[previous_end : block.start()]
        previous_end = block.end()
        for mark in re.finditer(f"{STOPPED_MARK.pattern}|{RUNNING_MARK.pattern}", between):
            stopped = (mark.group(1),) if mark.group(1) else ()
        command = content.strip()
        if info != "sh" or not command.startswith("curl "):
            continue
        line = text.count("\n", 0, block.start()) + 1
        if "\n" in command:
            raise ValueError(f"line {line}: one curl command per example block")
        if not command.startswith("curl -si "):
            raise ValueError(f"line {line}: examples start with `curl -si` (status and headers)")
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if following is None or following.group(1) != "http":
            raise ValueError(f"line {line}: a curl example must be followed by its ```http block")
        examples.append(
            Example(
                command,
                following.group(2),
                (following.start(2), following.end(2)),
                line,
                stopped,
            )
        )
    return examples


def parse_response(text: str) -> Response:
    """Status line, headers and JSON body of a raw or documented HTTP response."""
    text = text.replace("\r\n", "\n")
    head, _, body = text.partition("\n\n")
    status_line, *header_lines = head.strip().splitlines()
    match = re.fullmatch(r"HTTP/[\d.]+ (\d{3}) ?(.*)", status_line.strip())
    if match is None:
        raise ValueError(f"not an HTTP status line: {status_line!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(int(match[1]), match[2].strip(), headers, json.loads(body) if body else None)


def run_example(example: Example, variables: dict[str, str]) -> Response:
    """Run the example's command in bash with the doc's variables set."""
    if shutil.which("curl") is None:
        raise RuntimeError("curl is not installed: the api-testing.md examples are curl commands")
    result = subprocess.run(  # noqa: S603 - the documented command, run as a reader runs it
        ["bash", "-c", example.command],  # noqa: S607
        env={**os.environ, **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"line {example.line}: `{example.command}` failed: {result.stderr}")
    return parse_response(result.stdout)


def _volatile_kind(value: str) -> str | None:
    for kind, pattern in VOLATILE.items():
        if pattern.fullmatch(value):
            return kind
    return None


def compare_values(expected: Any, actual: Any, where: str = "body") -> list[str]:
    """How `actual` differs from `expected`: keys, types, list lengths and stable values."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {type(actual).__name__}"]
        problems = []
        if set(expected) != set(actual):
            missing, extra = (
                sorted(set(expected) - set(actual)),
                sorted(set(actual) - set(expected)),
            )
            problems.append(f"{where}: keys differ (missing {missing}, unexpected {extra})")
        for key in sorted(set(expected) & set(actual)):
            problems += compare_values(expected[key], actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {type(actual).__name__}"]
        if len(expected) != len(actual):
            return [f"{where}: expected {len(expected)} items, got {len(actual)}"]
        problems = []
        for index, (item, got) in enumerate(zip(expected, actual, strict=True)):
            problems += compare_values(item, got, f"{where}[{index}]")
        return problems
    if type(expected) is not type(actual):
        return [
            f"{where}: expected {type(expected).__name__} {expected!r}, "
            f"got {type(actual).__name__} {actual!r}"
        ]
    if isinstance(expected, str) and (kind := _volatile_kind(expected)):
        if _volatile_kind(actual) != kind:
            return [f"{where}: expected a {kind}, got {actual!r}"]
        return []
    if expected != actual:
        return [f"{where}: expected {expected!r}, got {actual!r}"]
    return []


def compare_responses(expected: Response, actual: Response) -> list[str]:
    """Status, the headers the doc shows, and the body (see compare_values)."""
    problems = []
    if (expected.status, expected.reason) != (actual.status, actual.reason):
        problems.append(
            f"status: expected {expected.status} {expected.reason}, "
            f"got {actual.status} {actual.reason}"
        )
    for name, value in expected.headers.items():
        if name not in actual.headers:
            problems.append(f"header {name}: missing")
        else:
            problems += compare_values(value, actual.headers[name], f"header {name}")
    return problems + compare_values(expected.body, actual.body)


def render_response(response: Response) -> str:
    """The ```http block content for a response: the shown headers, the JSON pretty-printed."""
    lines = [f"HTTP/1.1 {response.status} {response.reason}"]
    lines += [
        f"{name}: {response.headers[name]}" for name in SHOWN_HEADERS if name in response.headers
    ]
    body = json.dumps(response.body, indent=2, ensure_ascii=False)
    return "\n".join(lines) + "\n\n" + body + "\n"


def run_all(examples: list[Example], target: Any) -> list[Response | Exception]:
    """Run every example against an e2e target, stopping components where the doc says."""
    variables = stack_variables(target)
    results: list[Response | Exception] = []
    stopped: tuple[str, ...] = ()
    try:
        for example in examples:
            if example.stopped != stopped:
                for component in stopped:
                    target.start(component)
                for component in example.stopped:
                    target.stop(component)
                stopped = example.stopped
            try:
                results.append(run_example(example, variables))
            except (RuntimeError, ValueError) as exc:
                results.append(exc)
    finally:
        for component in stopped:
            target.start(component)
    return results


def update(doc: Path = API_DOC) -> int:
    """Bring up a private process-runtime stack, run every example, rewrite the responses."""
    from kontaxa_e2e.targets import ProcessTarget

    text = doc.read_text()
    examples = parse_examples(text)
    with tempfile.TemporaryDirectory(prefix="kontaxa-docs-") as state:
        target = ProcessTarget(Path(state))
        try:
            results = run_all(examples, target)
        finally:
            target.close()
    for example, result in reversed(list(zip(examples, results, strict=True))):
        if isinstance(result, Exception):
            raise result
        start, end = example.response_span
        text = text[:start] + render_response(result) + text[end:]
    doc.write_text(text)
    print(f"{doc.relative_to(ROOT)}: {len(examples)} responses rewritten from a live stack")
    return 0


def stack_variables(target: Any) -> dict[str, str]:
    """The doc's variables for a running e2e target."""
    return {
        "MAIN_URL": target.main_url,
        "AUX_URL": target.aux_url,
        "API_KEY": target.api_key(),
        "SERVICE_TOKEN": target.service_token(),
    }


def main() -> int:
    """`--update`: rewrite the responses; `--list`: print the parsed examples."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite the documented responses")
    args = parser.parse_args()
    if args.update:
        return update()
    for example in parse_examples(API_DOC.read_text()):
        stopped = f"  [{', '.join(example.stopped)} stopped]" if example.stopped else ""
        print(f"{example.line:>4}: {example.command}{stopped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
