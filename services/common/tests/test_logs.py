"""The access line, written without `logging`: same fields, same redaction, same batching."""

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from kontaxa_common.logs import (
    MAX_LOGGED_PATH,
    AccessLog,
    BatchingStreamHandler,
    JsonFormatter,
    Redactor,
)
from kontaxa_common.requestid import current_request_id

SECRET = 'tok"en-\\ü-1234'  # quote, backslash and non-ASCII: redacted before encoding
FIELDS = {
    "method": "GET",
    "path": f"/parameters/{SECRET}",
    "route": "/parameters/{name:path}",
    "status": 404,
    "duration_ms": 1.234,
}


@pytest.fixture
def sink() -> Iterator[tuple[io.StringIO, BatchingStreamHandler]]:
    """The root logger writing JSON through a batching handler into memory, as a service's."""
    redactor = Redactor()
    redactor.replace_values([SECRET])
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(JsonFormatter("test-service", redactor))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    token = current_request_id.set("req-1")
    try:
        yield stream, handler
    finally:
        current_request_id.reset(token)
        root.handlers[:], level = saved
        root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_line_is_the_one_logging_wrote(sink: tuple[io.StringIO, BatchingStreamHandler]) -> None:
    stream, handler = sink
    logging.getLogger("kontaxa.access.test-service").info("request", extra=FIELDS)
    AccessLog("test-service").write(dict(FIELDS))
    handler.flush()
    through_logging, direct = _lines(stream)
    assert list(direct) == list(through_logging)  # the same fields in the same order
    assert {k: v for k, v in direct.items() if k != "ts"} == {
        "level": "INFO",
        "service": "test-service",
        "logger": "kontaxa.access.test-service",
        "msg": "request",
        "request_id": "req-1",
        **FIELDS,
        "path": "/parameters/[REDACTED]",
    }
    assert time.strftime("%Y-%m-%dT", time.gmtime()) in str(direct["ts"])
    assert str(direct["ts"]).endswith("Z")
    assert SECRET not in stream.getvalue()
    assert json.dumps(SECRET)[1:-1] not in stream.getvalue()


def test_the_line_waits_at_most_the_flush_interval(
    sink: tuple[io.StringIO, BatchingStreamHandler],
) -> None:
    stream, _ = sink
    AccessLog("test-service").write(dict(FIELDS))
    assert stream.getvalue() == ""  # batched ...
    deadline = time.monotonic() + BatchingStreamHandler.FLUSH_SECONDS + 1.0
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_lines(stream)) == 1  # ... and written by the flusher thread


def test_a_warning_writes_the_queued_lines_at_once_in_order(
    sink: tuple[io.StringIO, BatchingStreamHandler],
) -> None:
    stream, _ = sink
    AccessLog("test-service").write(dict(FIELDS))
    logging.getLogger("kontaxa.test").warning("something failed")
    assert [line["msg"] for line in _lines(stream)] == ["request", "something failed"]


def test_a_full_batch_is_written_at_once(sink: tuple[io.StringIO, BatchingStreamHandler]) -> None:
    stream, _ = sink
    access = AccessLog("test-service")
    for _ in range(BatchingStreamHandler.MAX_LINES):
        access.write(dict(FIELDS))
    assert len(_lines(stream)) == BatchingStreamHandler.MAX_LINES


def test_the_access_logger_level_still_decides(
    sink: tuple[io.StringIO, BatchingStreamHandler],
) -> None:
    stream, handler = sink
    logging.getLogger().setLevel(logging.WARNING)  # LOG_LEVEL=WARNING
    AccessLog("test-service").write(dict(FIELDS))
    handler.flush()
    assert stream.getvalue() == ""


def test_a_long_path_is_cut_after_redaction(
    sink: tuple[io.StringIO, BatchingStreamHandler],
) -> None:
    stream, handler = sink
    # The secret straddles the cut: cut first, its first half would be written as it is.
    path = "/parameters/" + "a" * (MAX_LOGGED_PATH - 16) + SECRET + "b" * 30_000
    AccessLog("test-service").write({**FIELDS, "path": path})
    handler.flush()
    (line,) = _lines(stream)
    logged = str(line["path"])
    redacted = path.replace(SECRET, "[REDACTED]")
    assert logged == f"{redacted[:MAX_LOGGED_PATH]}... ({len(redacted)} characters)"
    assert SECRET[:4] not in logged  # what a cut before redaction would have left
    assert len(stream.getvalue()) < 2 * MAX_LOGGED_PATH


@pytest.mark.parametrize("field", ["method", "path", "route"])
@pytest.mark.parametrize("secret", [SECRET, "k3y", "a\0b", "tab\tsecret"])
def test_a_secret_in_a_field_of_a_flat_line_is_redacted(field: str, secret: str) -> None:
    """Flat lines (the access line's) take a quicker search for secrets: it misses none."""
    redactor = Redactor()
    redactor.replace_values(["unrelated-value", secret])
    entry = {**FIELDS, "path": "/parameters/welcome", field: f"x{secret}y"}
    scrubbed = redactor.scrub_fields(entry)
    assert scrubbed[field] == "x[REDACTED]y"
    assert {k: v for k, v in scrubbed.items() if k != field} == {
        k: v for k, v in entry.items() if k != field
    }
    line = json.loads(JsonFormatter("t", redactor).line(0.0, "INFO", "l", "m", entry))
    assert line[field] == "x[REDACTED]y"


def test_a_line_without_secrets_is_left_as_it_is() -> None:
    redactor = Redactor()
    redactor.replace_values([SECRET])
    clean = dict(FIELDS, path="/parameters/welcome")
    assert redactor.scrub_fields(clean) is clean
    # A value spanning two fields is in neither: the search may look twice, changes nothing.
    straddling = {"a": "tok", "b": "en"}
    redactor.replace_values(["tok\0en"])
    assert redactor.scrub_fields(straddling) == straddling
