"""Faults under load: the e2e suite's fault cases (tests/test_faults.py) with traffic flowing.

Each test drives real processes of the process runtime: the stack the suite brought up, or
copies of its services started with the same command and env plus an override (another
upstream URL, a shorter timeout), behind loopback proxies that delay or refuse. Deadlines in
the assertions are bounds that prove "no hang", derived from the services' own timeouts.
"""

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from kontaxa_e2e.load import (
    LoadThread,
    TcpProxy,
    component_pid,
    http_status,
    metric_total,
    port_of,
    run_load,
    running_copy,
    scrape,
)
from kontaxa_e2e.servers import FakeReply, FakeUpstream, eventually
from kontaxa_e2e.targets import ProcessTarget, Target

PARAMETER = "/parameters/welcome-message"


@pytest.fixture
def stack(target: Target) -> ProcessTarget:
    """The process target (these tests start copies of its processes and signal them by PID)."""
    if target.name != "process" or not isinstance(target, ProcessTarget):
        pytest.skip(f"needs the process runtime's processes, not the {target.name} target")
    return target


def _seconds(name: str, values: dict[str, str], default: float) -> float:
    return float(values.get(name, default))


def _wait_until(load: LoadThread, elapsed: float) -> None:
    while load.elapsed() < elapsed:
        time.sleep(0.05)


def _kill(pid: int) -> None:
    """SIGKILL a process group and reap it (it is a child of this test process)."""
    os.killpg(pid, signal.SIGKILL)
    for _ in range(200):
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        if not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.02)


def test_aux_service_killed_mid_load_gives_503_in_time_then_recovers(
    stack: ProcessTarget, auth: Callable[[], dict[str, str]]
) -> None:
    config = stack.config_values("main-api")
    connect = _seconds("AUX_CONNECT_TIMEOUT_SECONDS", config, 1.0)
    retries = int(config.get("AUX_MAX_RETRIES", "2"))
    # Every try may wait its connect timeout, plus the backoff between tries, plus a margin.
    deadline = connect * (retries + 1) + 2
    main_pid = component_pid(stack.runtime, "main-api")
    load = LoadThread(stack.main_url + PARAMETER, headers=auth(), rate=50, duration=60)
    load.start()
    try:
        _wait_until(load, 3)
        _kill(component_pid(stack.runtime, "aux-service"))
        killed_at = load.elapsed()
        _wait_until(load, killed_at + 3)
        stack.runtime.start_component("aux-service")  # returns once it is ready again
        back_at = load.elapsed()
        _wait_until(load, back_at + 3)
    finally:
        load.stop_sending.set()
    report = load.result(timeout=60)
    statuses = report.statuses()
    assert set(statuses) <= {200, 503}, report.summary()
    assert statuses[503] > 0, report.summary()
    slowest = max(o.seconds for o in report.outcomes)
    assert slowest < deadline, f"a request took {slowest:.1f}s: {report.summary()}"
    # Recovered without a restart of main-api: its pooled connections were replaced.
    recovered = report.between(back_at + 1, float("inf"))
    assert recovered, report.summary()
    assert all(o.status == 200 for o in recovered), report.summary()
    assert component_pid(stack.runtime, "main-api") == main_pid


def test_aux_service_slower_than_the_read_timeout_gives_504_within_it(
    stack: ProcessTarget, auth: Callable[[], dict[str, str]]
) -> None:
    read_timeout = 1.0
    with (
        TcpProxy(port_of(stack.aux_url), delay=read_timeout + 2) as slow_aux,
        running_copy(
            stack.runtime,
            "main-api",
            name="main-api-slow-aux",
            env={
                "AUX_SERVICE_URL": slow_aux.url,
                "AUX_READ_TIMEOUT_SECONDS": str(read_timeout),
            },
        ) as main,
    ):
        # 16 connections: within main-api's pool (AUX_MAX_CONNECTIONS), so no request queues.
        report = run_load(main.url + PARAMETER, headers=auth(), duration=4, workers=16)
    assert report.statuses() == {504: len(report.outcomes)}, report.summary()
    seconds = [o.seconds for o in report.outcomes]
    assert min(seconds) >= read_timeout * 0.9, report.summary()
    assert max(seconds) < read_timeout + 2, report.summary()


def test_emulator_stopped_under_load_gives_503_and_recovers(stack: ProcessTarget) -> None:
    token = {"X-Service-Token": stack.service_token()}
    with (
        TcpProxy(port_of(stack.emulator_url)) as emulator,
        running_copy(
            stack.runtime,
            "aux-service",
            name="aux-service-emulator-proxy",
            env={"AWS_ENDPOINT_URL": emulator.url, "READY_CACHE_SECONDS": "0"},
            ready_path="/ready",
        ) as aux,
    ):
        # /buckets is never cached: every request needs the emulator.
        load = LoadThread(aux.url + "/buckets", headers=token, rate=20, duration=90)
        load.start()
        try:
            _wait_until(load, 2)
            emulator.refuse()
            down_at = load.elapsed()
            assert eventually(lambda: http_status(aux.url + "/ready") == 503, timeout=15)
            assert http_status(aux.url + "/health") == 200
            _wait_until(load, down_at + 5)
            emulator.accept()
            up_at = load.elapsed()
            assert eventually(lambda: http_status(aux.url + "/ready") == 200, timeout=30)
            _wait_until(load, load.elapsed() + 3)
        finally:
            load.stop_sending.set()
        report = load.result(timeout=60)
    statuses = report.statuses()
    assert set(statuses) <= {200, 503}, report.summary()
    # Requests sent in the outage's last seconds may succeed: botocore retries once after a
    # backoff of up to a second, by which time the emulator may be back.
    outage = report.between(down_at + 1, up_at - 2)
    assert outage, report.summary()
    assert all(o.status == 503 for o in outage), report.summary()
    recovered = report.between(up_at + 2, float("inf"))
    assert recovered, report.summary()
    assert all(o.status == 200 for o in recovered), report.summary()
    # Connection refused fails fast; botocore's one retry and its backoff stay within this.
    assert max(o.seconds for o in report.outcomes) < 10, report.summary()


def _ssm_calls(upstream: FakeUpstream) -> int:
    return sum(1 for _, _, headers in upstream.requests if "X-Amz-Target" in headers)


def test_throttling_gives_429_with_retry_after_and_no_retry_storm(
    stack: ProcessTarget, auth: Callable[[], dict[str, str]]
) -> None:
    from aux_service.config import Settings

    attempts = Settings.model_fields["aws_max_attempts"].default
    throttled = FakeReply(
        status=400,
        body={"__type": "ThrottlingException", "message": "Rate exceeded"},
        headers={"Content-Type": "application/x-amz-json-1.1"},
    )
    names = [f"/parameters/throttled-{i}" for i in range(5)]
    with (
        FakeUpstream(throttled) as ssm,
        running_copy(
            stack.runtime,
            "aux-service",
            name="aux-service-throttled",
            env={"AWS_ENDPOINT_URL": ssm.url},
        ) as aux,
        running_copy(
            stack.runtime, "main-api", name="main-api-throttled", env={"AUX_SERVICE_URL": aux.url}
        ) as main,
    ):
        report = run_load(main.url, paths=names, headers=auth(), rate=20, duration=5)
        served_by_aux = metric_total(
            scrape(aux.metrics_url), "http_requests_total", route="/parameters/{name:path}"
        )
    requests = len(report.outcomes)
    assert report.statuses() == {429: requests}, report.summary()
    assert all(o.headers.get("retry-after", "").isdigit() for o in report.outcomes)
    # main-api passes a 429 on and retries none; aux-service lets botocore try `attempts` times
    # at most (fewer: concurrent misses of one name share a call).
    assert served_by_aux == requests
    assert 0 < _ssm_calls(ssm) <= attempts * requests, (_ssm_calls(ssm), requests)


@contextlib.contextmanager
def _sigterm_subject(
    stack: ProcessTarget, service: str, auth: Callable[[], dict[str, str]]
) -> Iterator[tuple[int, str, dict[str, str], Callable[[], bool]]]:
    """A copy of `service` whose requests each stay in flight for 0.3 s (a delayed upstream)."""
    if service == "main-api":
        upstream, env_name, headers = stack.aux_url, "AUX_SERVICE_URL", auth()
        env = {}
    else:
        upstream, env_name = stack.emulator_url, "AWS_ENDPOINT_URL"
        headers = {"X-Service-Token": stack.service_token()}
        env = {"PARAMETER_CACHE_TTL_SECONDS": "0"}
    with (
        TcpProxy(port_of(upstream), delay=0.3) as slow,
        running_copy(
            stack.runtime, service, name=f"{service}-sigterm", env={env_name: slow.url, **env}
        ) as copy,
    ):
        yield copy.pid, copy.url + PARAMETER, headers, copy.alive


@pytest.mark.parametrize("service", ["main-api", "aux-service"])
def test_sigterm_during_load_lets_every_request_in_flight_finish(
    stack: ProcessTarget, auth: Callable[[], dict[str, str]], service: str
) -> None:
    with _sigterm_subject(stack, service, auth) as (pid, url, headers, alive):
        load = LoadThread(url, headers=headers, duration=60, workers=16)
        load.start()
        try:
            _wait_until(load, 2)
        finally:
            # As Kubernetes does (endpoint removed, preStop pause): no new request, then SIGTERM.
            load.stop_sending.set()
        time.sleep(0.05)  # a request that passed the check has been written by now
        sigterm_at = load.elapsed()
        os.kill(pid, signal.SIGTERM)
        report = load.result(timeout=30)
        assert eventually(lambda: not alive(), timeout=25), f"{service} did not exit"
    in_flight = [o for o in report.outcomes if o.sent < sigterm_at < o.sent + o.seconds]
    assert len(in_flight) >= 8, report.summary()
    assert report.statuses() == {200: len(report.outcomes)}, report.summary()
