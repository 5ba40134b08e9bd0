"""The docs checks themselves: each one fails on the fault it exists to catch."""

from pathlib import Path

import diagram
import pytest
from api_examples import Response, compare_responses, compare_values, parse_examples
from markdown_checks import anchors, broken_links, missing_paths, slug, task_names

BODY = {
    "parameter": {
        "name": "a",
        "version": 1,
        "value": None,
        "last_modified": "2026-01-01T00:00:00Z",
    },
    "meta": {"main_api_version": "0.1.0"},
}


def test_identical_bodies_agree() -> None:
    assert compare_values(BODY, BODY) == []


@pytest.mark.parametrize(
    ("changed", "fragment"),
    [
        ({"parameter": {"name": "a", "version": 1, "value": None}}, "keys differ"),
        ({"parameter": {**BODY["parameter"], "version": "1"}}, "expected int"),
        ({"parameter": {**BODY["parameter"], "value": "x"}}, "expected NoneType"),
        ({"parameter": {**BODY["parameter"], "name": "b"}}, "expected 'a'"),
        ({"parameter": {**BODY["parameter"], "last_modified": "yesterday"}}, "a timestamp"),
    ],
)
def test_a_changed_body_is_caught(changed: dict[str, object], fragment: str) -> None:
    problems = compare_values(BODY, {**BODY, **changed})
    assert any(fragment in p for p in problems), problems


def test_volatile_values_compare_by_form() -> None:
    later = {**BODY, "parameter": {**BODY["parameter"], "last_modified": "2027-05-05T10:11:12.5Z"}}
    assert compare_values(BODY, later) == []
    assert compare_values({"id": "0" * 32}, {"id": "f" * 32}) == []


def test_lists_must_match_in_length() -> None:
    assert compare_values([1, 2], [1]) == ["body: expected 2 items, got 1"]


def test_status_and_headers_are_compared() -> None:
    doc = Response(404, "Not Found", {"www-authenticate": "Bearer"}, {})
    assert compare_responses(doc, Response(200, "OK", {}, {})) == [
        "status: expected 404 Not Found, got 200 OK",
        "header www-authenticate: missing",
    ]


def test_an_example_without_its_response_is_refused() -> None:
    with pytest.raises(ValueError, match="must be followed"):
        parse_examples('```sh\ncurl -si "$MAIN_URL/health"\n```\n\nno response\n')
    with pytest.raises(ValueError, match="curl -si"):
        parse_examples('```sh\ncurl "$MAIN_URL/health"\n```\n```http\nHTTP/1.1 200 OK\n```\n')


def test_stopped_marks_apply_until_running() -> None:
    block = '```sh\ncurl -si "$MAIN_URL/health"\n```\n```http\nHTTP/1.1 200 OK\n```\n'
    text = block + "<!-- docs-test: aux-service stopped -->\n" + block
    text += block + "<!-- docs-test: running -->\n" + block
    assert [e.stopped for e in parse_examples(text)] == [(), ("aux-service",)] * 1 + [
        ("aux-service",),
        (),
    ]


def test_broken_links_and_anchors_are_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import markdown_checks

    monkeypatch.setattr(markdown_checks, "ROOT", tmp_path)
    (tmp_path / "other.md").write_text("# Real heading\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](other.md#real-heading) [gone](missing.md) [bad anchor](other.md#nope)\n"
        "[self](#title) `[in code](missing-too.md)`\n# Title\n"
    )
    assert broken_links(doc) == [
        "doc.md:1: missing.md: no such file",
        "doc.md:1: other.md#nope: no heading with anchor #nope",
    ]


def test_slugs_follow_github() -> None:
    assert slug("503: aux-service is down") == "503-aux-service-is-down"
    assert (
        slug("The `objects` syntax (as the AWS provider)")
        == "the-objects-syntax-as-the-aws-provider"
    )


def test_repeated_headings_are_numbered(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Setup\n## Setup\n```sh\n# not a heading\n```\n")
    assert anchors(doc) == {"setup", "setup-1"}


def test_task_names_are_read_from_code_only() -> None:
    text = (
        "Run the task of the day.\n```sh\n./task local-up\n  task e2e -- --target kind\n"
        "LOCAL_RUNTIME=kind ./task local-up -- --dry-run\ntask: [local-up] uv run\n```\n"
        "and `task docs:diagram`, or `./task --list`.\n"
    )
    assert task_names(text) == {"local-up", "e2e", "docs:diagram"}


def test_a_stale_picture_is_caught(tmp_path: Path) -> None:
    source = tmp_path / "x.dot"
    source.write_text("digraph { a -> b }\n")
    png = diagram.stamp(diagram.PICTURE.read_bytes()[:33] + b"\0\0\0\0IEND\xaeB`\x82", {})
    stamped = diagram.stamp(png, {diagram.SOURCE_KEY: diagram.source_digest(source)})
    assert diagram.text_chunks(stamped)[diagram.SOURCE_KEY] == diagram.source_digest(source)
    source.write_text("digraph { a -> c }\n")
    assert diagram.text_chunks(stamped)[diagram.SOURCE_KEY] != diagram.source_digest(source)


def test_missing_paths_are_caught() -> None:
    text = (
        "`infra/k8s/README.md`, `infra/k8s/NOPE.md`, `services/*/tests`, `services/*/nothing`,\n"
        "`infra/k8s/apps/<service>/x.yaml`, `infra/k8s/overlays/ENV/main-api`\n"
        "```sh\ncat docs/missing.md\n```\n"
    )
    assert missing_paths(text) == ["docs/missing.md", "infra/k8s/NOPE.md", "services/*/nothing"]
