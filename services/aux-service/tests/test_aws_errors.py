"""AWS failures mapped to HTTP: denied 403, throttled 429 with Retry-After, unreachable 503,
slow 504 at AWS_DEADLINE_SECONDS.

The failing AWS endpoint is a scripted fake: the one place a fake is allowed (fault injection).
"""

import contextlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from aux_service import aws as aws_module
from kontaxa_e2e.inprocess import SeedData
from kontaxa_e2e.servers import FakeReply, FakeUpstream
from kontaxa_local.process_runtime import free_port

from .conftest import Aux, start_aux


def _aws_error(code: str, status: int = 400) -> FakeReply:
    """An error as SSM (JSON protocol) and S3 (XML) send it; the path tells which."""
    return FakeReply(status=status, body=json.dumps({"__type": code, "message": "nope"}).encode())


def _s3_error(code: str, status: int) -> FakeReply:
    body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>m</Message></Error>"
    return FakeReply(status=status, body=body.encode(), headers={"Content-Type": "application/xml"})


@pytest.fixture
def faulty(secrets_root: Path) -> Iterator[tuple[FakeUpstream, Aux]]:
    upstream = FakeUpstream(_aws_error("AccessDeniedException"))
    with upstream, start_aux(upstream.url, secrets_root, SeedData()) as aux:
        yield upstream, aux


def test_access_denied_is_403(faulty: tuple[FakeUpstream, Aux]) -> None:
    _, aux = faulty
    response = aux.get("/parameters/welcome-message")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert "nope" not in response.text  # AWS's own message is not passed on


def test_s3_access_denied_is_403(faulty: tuple[FakeUpstream, Aux]) -> None:
    upstream, aux = faulty
    upstream.reply = _s3_error("AccessDenied", 403)
    assert aux.get("/buckets").status_code == 403


def test_throttling_is_429_with_retry_after_and_bounded_retries(
    faulty: tuple[FakeUpstream, Aux],
) -> None:
    upstream, aux = faulty
    upstream.reply = _aws_error("ThrottlingException")
    for _ in range(5):
        response = aux.get("/parameters/welcome-message")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["code"] == "throttled"
    # AWS_MAX_ATTEMPTS (2) per request at most: no retry storm.
    assert len(upstream.requests) <= 10


def test_unknown_aws_error_is_502_without_detail(faulty: tuple[FakeUpstream, Aux]) -> None:
    upstream, aux = faulty
    upstream.reply = _aws_error("InternalServerError", status=500)
    response = aux.get("/parameters/welcome-message")
    assert response.status_code == 502
    assert "nope" not in response.text


def test_unreachable_endpoint_is_503_and_ready_fails(secrets_root: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with start_aux(closed, secrets_root, SeedData()) as aux:
        response = aux.get("/parameters/welcome-message")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "aws_unavailable"
        assert aux.get("/buckets").status_code == 503
        ready = aux.http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["aws"] == "aws_unavailable"
        assert aux.http.get("/health").status_code == 200


@contextlib.contextmanager
def _slow_aws(secrets_root: Path, read: float, attempts: int, deadline: float) -> Iterator[Any]:
    """aux-service against an AWS endpoint that answers after 5 s: (the endpoint, aux)."""
    timeouts = {
        "aws_read_timeout_seconds": read,
        "aws_max_attempts": attempts,
        "aws_deadline_seconds": deadline,
    }
    slow = FakeUpstream(FakeReply(body={}, delay=5.0))
    with slow, start_aux(slow.url, secrets_root, SeedData(), **timeouts) as aux:
        yield slow, aux


def test_a_slow_aws_is_504_at_the_deadline_not_after_every_attempt(secrets_root: Path) -> None:
    """AWS_DEADLINE_SECONDS bounds the call whatever botocore's timeouts and attempts allow:
    here two attempts of a 2 s read timeout (4 s and more) against a 1 s deadline."""
    with _slow_aws(secrets_root, read=2.0, attempts=2, deadline=1.0) as (_, aux):
        for path in ("/parameters/welcome-message", "/buckets"):
            started = time.monotonic()
            response = aux.get(path)
            elapsed = time.monotonic() - started
            assert response.status_code == 504, path
            assert response.json()["error"]["code"] == "aws_timeout"
            assert 1.0 <= elapsed < 3.0, (path, elapsed)


def test_calls_past_their_deadline_still_hold_their_slot(
    secrets_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call past its deadline runs on in its thread until botocore gives up, and keeps its
    slot: with every slot taken, a request is refused at once (503, Retry-After), so a stalled
    AWS cannot pile up threads and connections."""
    monkeypatch.setattr(aws_module, "MAX_AWS_CALLS", 1)
    with _slow_aws(secrets_root, read=3.0, attempts=1, deadline=0.5) as (slow, aux):
        assert aux.get("/parameters/welcome-message").status_code == 504
        busy = aux.get("/parameters/feature-flags")
        assert busy.status_code == 503
        assert busy.json()["error"]["code"] == "aws_busy"
        assert busy.headers["Retry-After"] == "1"
        assert len(slow.requests) == 1  # the refused request never reached AWS
        # Busy is not broken: readiness keeps its last result and makes no call.
        assert aux.http.get("/ready").json()["checks"]["aws"] == "unchecked"
        assert len(slow.requests) == 1


def test_a_throttled_aws_leaves_the_pod_ready(faulty: tuple[FakeUpstream, Aux]) -> None:
    """Throttling is an answer: the pod serves (its cache, and the 429 with Retry-After), so it
    stays in the Service. SSM's quota is the account's and region's, shared by every pod:
    failing readiness on it would take every aux-service pod out at once."""
    upstream, aux = faulty
    upstream.reply = _aws_error("ThrottlingException")
    assert aux.get("/parameters/welcome-message").status_code == 429
    ready = aux.http.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["aws"] == "throttled"


def test_a_listing_past_its_deadline_stops_at_the_page_in_flight(secrets_root: Path) -> None:
    """At the deadline the request is answered 504 and the listing thrown away, so its thread
    makes no further page's call: SSM pages of 0.2 s, a deadline of 2 s, and no call after
    the one in flight (without the stop it went on through every page, holding its slot).
    The deadline leaves a loaded machine time for the first calls (a CI run under load made
    none in 0.5 s: the first call builds the SSM client)."""
    pages = iter(range(1_000_000))

    def page(_: str) -> FakeReply:
        return FakeReply(body={"Parameters": [], "NextToken": f"t{next(pages)}"}, delay=0.2)

    settings = {"aws_deadline_seconds": 2.0, "aws_read_timeout_seconds": 2.0}
    with FakeUpstream(page) as ssm, start_aux(ssm.url, secrets_root, SeedData(), **settings) as aux:
        response = aux.get("/parameters")
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "aws_timeout"
        calls = len(ssm.requests)
        assert calls >= 2, "the listing went past its first page before the deadline"
        time.sleep(1.0)  # five more pages' time
        assert len(ssm.requests) - calls <= 1, (calls, len(ssm.requests))


def test_readiness_probes_at_once_share_one_aws_check(secrets_root: Path) -> None:
    """40 probes at once, past the reuse time, made 10 GetParametersByPath calls in a review:
    each began a check before the first had ended. They now wait for the one in flight."""
    ssm = FakeUpstream(FakeReply(body={"Parameters": []}, delay=0.3))
    with ssm, start_aux(ssm.url, secrets_root, SeedData()) as aux:
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: aux.http.get("/ready"), range(40)))
        assert [answer.status_code for answer in answers] == [200] * 40
        assert {answer.json()["checks"]["aws"] for answer in answers} == {"ok"}
        assert len(ssm.requests) == 1
