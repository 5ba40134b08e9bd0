"""Load, processes and faults for the benchmark (e2e/bench) and the load, fault and soak tests.

- `spawn_copy`: one more process of a component of the process runtime, with the command,
  env and directory the runtime recorded for it, on a free loopback port, plus env overrides
  (a cache disabled, another upstream URL); stopped by its PID.
- `run_load` / `LoadThread`: an aiohttp load driver, open loop at a fixed rate or closed
  loop with N workers, bounded in count and time; every outcome recorded.
- `TcpProxy`: a loopback TCP proxy that can delay replies or refuse connections, to put a
  slow or absent upstream between two real components.
- `/proc` readings: a process's RSS, the TCP connections to a port; Prometheus text parsing.

Everything binds to and targets 127.0.0.1 only.
"""

import asyncio
import contextlib
import gc
import re
import statistics
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from kontaxa_local.process_runtime import free_port

# ---- copies of the runtime's components ---------------------------------------------------


@dataclass
class Copy:
    """A process started like one of the runtime's components, on its own port."""

    name: str
    url: str
    metrics_url: str
    record: Any  # kontaxa_local.procs.ProcessRecord
    log: Path

    @property
    def pid(self) -> int:
        """The process ID."""
        pid: int = self.record.pid
        return pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return bool(self.record.alive())

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period (no-op when already gone)."""
        from kontaxa_local import procs

        procs.stop(self.record, grace=10)


def http_status(url: str, headers: Mapping[str, str] | None = None, timeout: float = 3) -> int:
    """Status of GET `url` (0 when nothing answers)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def spawn_copy(
    runtime: Any,
    component: str,
    *,
    name: str,
    env: Mapping[str, str] | None = None,
    command: list[str] | None = None,
    ready_path: str = "/health",
    timeout: float = 60,
) -> Copy:
    """Start `name`: `component`'s recorded process (or `command` in its place) with `env` added.

    `runtime` is a ProcessRuntime that is up. The copy listens on a free port of 127.0.0.1
    and logs beside the runtime's own logs; it is returned once `ready_path` answers 200.
    """
    from kontaxa_local import procs
    from kontaxa_local.state import State

    if runtime.name != "process":
        raise ValueError(f"copies need the process runtime, not {runtime.name}")
    state = State.load(runtime.dir)
    if state is None:
        raise RuntimeError(f"no local stack is up in {runtime.dir}")
    original = state.components[component].process
    port, metrics_port = free_port(), free_port()
    full_env = {
        **original.env,
        **(env or {}),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "METRICS_PORT": str(metrics_port),
    }
    log = runtime.log_dir / f"{name}.log"
    record = procs.spawn(name, command or original.command, full_env, log, Path(original.cwd))
    copy = Copy(name, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}", record, log)
    deadline = time.monotonic() + timeout
    while http_status(copy.url + ready_path) != 200:
        if not copy.alive() or time.monotonic() > deadline:
            copy.stop()
            raise RuntimeError(f"{name} did not get ready:\n{procs.tail(log)}")
        time.sleep(0.1)
    return copy


@contextlib.contextmanager
def running_copy(runtime: Any, component: str, **kwargs: Any) -> Iterator[Copy]:
    """`spawn_copy` for the duration of the block."""
    copy = spawn_copy(runtime, component, **kwargs)
    try:
        yield copy
    finally:
        copy.stop()


def component_pid(runtime: Any, component: str) -> int:
    """PID of a component of the process runtime, as recorded now."""
    from kontaxa_local.state import State

    state = State.load(runtime.dir)
    if state is None:
        raise RuntimeError(f"no local stack is up in {runtime.dir}")
    pid: int = state.components[component].process.pid
    return pid


def port_of(url: str) -> int:
    """The port of an http://127.0.0.1:PORT URL."""
    return int(url.rstrip("/").rsplit(":", 1)[1])


# ---- /proc and /metrics --------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    """Resident set size of process `pid`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _tcp_entries() -> Iterator[tuple[int, int, str, int]]:
    """(local port, remote port, state, socket inode) of every TCP socket in /proc/net."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                local_port = int(local.rsplit(":", 1)[1], 16)
                remote_port = int(remote.rsplit(":", 1)[1], 16)
                yield local_port, remote_port, state, int(inode)


def connections_to(port: int) -> set[int]:
    """Client-side ports of the TCP connections to 127.0.0.1:`port` the kernel still knows.

    Includes connections in TIME_WAIT (closed within the last minute), so a client that
    opened a connection per request shows one entry per request.
    """
    clients: set[int] = set()
    for local_port, remote_port, state, _ in _tcp_entries():
        if state == "0A":  # LISTEN
            continue
        if remote_port == port:
            clients.add(local_port)
        elif local_port == port:
            clients.add(remote_port)
    return clients


def open_connections(pid: int, port: int) -> int:
    """How many ESTABLISHED connections process `pid` holds to `port` now."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = fd.readlink().name
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return sum(
        1
        for _, remote_port, state, inode in _tcp_entries()
        if state == "01" and remote_port == port and inode in inodes
    )


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric_total(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` in Prometheus text whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match.group(1) != name:
            continue
        found = dict(_LABEL.findall(match.group(2) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match.group(3))
    return total


def scrape(url: str) -> str:
    """The /metrics text of the metrics listener at `url` (a service's metrics port)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text: str = response.read().decode()
        return text


def aws_calls(aux_metrics_url: str, operation: str) -> float:
    """AWS calls of `operation` aux-service made so far (its upstream latency histogram)."""
    return metric_total(
        scrape(aux_metrics_url),
        "upstream_request_duration_seconds_count",
        upstream="aws",
        operation=operation,
    )


# ---- load ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request: when it was sent (seconds since the load began), how long it took, result."""

    sent: float
    seconds: float
    status: int | None  # None: no HTTP response
    error: str | None = None  # the exception's class when there was no response
    headers: dict[str, str] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    """The `q`-th percentile (0-100) of `values`, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class LoadReport:
    """Every outcome of one load run."""

    outcomes: list[Outcome]
    duration: float

    def statuses(self) -> Counter[int | str]:
        """How many responses per status (or per error class)."""
        return Counter(o.status if o.status is not None else str(o.error) for o in self.outcomes)

    def between(self, start: float, end: float) -> list[Outcome]:
        """The outcomes of requests sent in [start, end) seconds."""
        return [o for o in self.outcomes if start <= o.sent < end]

    def p(self, q: float, outcomes: list[Outcome] | None = None) -> float:
        """Latency percentile in seconds."""
        return percentile([o.seconds for o in outcomes or self.outcomes], q)

    def summary(self) -> str:
        """One line for assertion messages."""
        seconds = [o.seconds for o in self.outcomes]
        median = statistics.median(seconds) if seconds else float("nan")
        return (
            f"{len(self.outcomes)} requests in {self.duration:.1f}s, "
            f"statuses {dict(self.statuses())}, p50 {median * 1000:.1f} ms, "
            f"p99 {self.p(99) * 1000:.1f} ms, max {max(seconds, default=0) * 1000:.1f} ms"
        )


KEPT_HEADERS = ("retry-after",)


async def _load(
    url: str,
    headers: Mapping[str, str],
    duration: float,
    rate: float | None,
    workers: int,
    request_timeout: float,
    stop: threading.Event | None,
    paths: list[str] | None,
) -> LoadReport:
    outcomes: list[Outcome] = []
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=workers)
    session_timeout = aiohttp.ClientTimeout(total=request_timeout)
    started = loop.time()
    counter = iter(range(10**9))

    def target() -> str:
        return url + (paths[next(counter) % len(paths)] if paths else "")

    async def one(session: aiohttp.ClientSession) -> None:
        sent = loop.time()
        try:
            async with session.get(target(), headers=dict(headers)) as response:
                await response.read()
                kept = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
                outcome = Outcome(sent - started, loop.time() - sent, response.status, None, kept)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            outcome = Outcome(sent - started, loop.time() - sent, None, type(exc).__name__)
        outcomes.append(outcome)

    def stopping() -> bool:
        return loop.time() - started >= duration or (stop is not None and stop.is_set())

    async with aiohttp.ClientSession(connector=connector, timeout=session_timeout) as session:
        if rate is None:  # closed loop: each worker sends its next request when one returns

            async def worker() -> None:
                while not stopping():
                    await one(session)

            await asyncio.gather(*(worker() for _ in range(workers)))
        else:  # open loop: requests leave at a fixed rate, whatever the replies do
            tasks: list[asyncio.Task[None]] = []
            for index in range(int(rate * duration)):
                delay = started + index / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if stopping():
                    break
                tasks.append(asyncio.create_task(one(session)))
            await asyncio.gather(*tasks)
    outcomes.sort(key=lambda o: o.sent)
    return LoadReport(outcomes, loop.time() - started)


def run_load(
    url: str,
    *,
    duration: float,
    headers: Mapping[str, str] | None = None,
    rate: float | None = None,
    workers: int = 32,
    timeout: float = 30,
    stop: threading.Event | None = None,
    paths: list[str] | None = None,
) -> LoadReport:
    """GET `url` (+ each of `paths` in turn) for `duration` seconds and record every outcome.

    With `rate`, requests leave at that many per second (open loop; at most `workers`
    connections); without, `workers` connections each send requests back to back.
    `stop` ends the load early: no request is sent after it is set.

    The collector's view of everything alive before the load is frozen meanwhile (as the
    services freeze theirs, kontaxa_common.server.build_frozen): late in a suite the test
    process holds every module it imported, and a full collection of that heap would stop
    this loop, which would read as the service's latency. Freezing is a list splice, so the
    load starts at once.
    """
    gc.freeze()
    try:
        return asyncio.run(_load(url, headers or {}, duration, rate, workers, timeout, stop, paths))
    finally:
        gc.unfreeze()


class LoadThread(threading.Thread):
    """`run_load` in a background thread, so a test can inject a fault meanwhile."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(daemon=True)
        self.stop_sending = threading.Event()
        self._args = (url, kwargs)
        self.report: LoadReport | None = None
        self.error: BaseException | None = None
        self.started_at = 0.0

    def run(self) -> None:
        """Run the load."""
        url, kwargs = self._args
        self.started_at = time.monotonic()
        try:
            self.report = run_load(url, stop=self.stop_sending, **kwargs)
        except BaseException as exc:  # reported by result()
            self.error = exc

    def elapsed(self) -> float:
        """Seconds since the load began."""
        return time.monotonic() - self.started_at

    def result(self, timeout: float) -> LoadReport:
        """Wait (at most `timeout` seconds) for the load to end and return its report."""
        self.join(timeout)
        if self.is_alive():
            self.stop_sending.set()
            self.join(30)
            raise AssertionError(f"the load did not end within {timeout}s: a request hangs")
        if self.error is not None:
            raise self.error
        assert self.report is not None
        return self.report


# ---- a TCP proxy for faults ----------------------------------------------------------------


class TcpProxy:
    """127.0.0.1:port -> 127.0.0.1:upstream_port, in a background thread.

    `delay` holds back every chunk of the upstream's reply that long (a slow upstream);
    `refuse()` closes the listener and every connection (an upstream that went away),
    `accept()` listens on the same port again. Connections made are counted.
    """

    def __init__(self, upstream_port: int, delay: float = 0.0) -> None:
        self.upstream_port = upstream_port
        self.delay = delay
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> "TcpProxy":
        self._thread.start()
        self.accept()
        return self

    def __exit__(self, *exc: object) -> None:
        self.refuse()

        async def cancel_connections() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._run(cancel_connections())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def accept(self) -> None:
        """Listen (again) on `port`."""

        async def listen() -> None:
            self._server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, reuse_address=True
            )

        self._run(listen())

    def refuse(self) -> None:
        """Stop listening and drop every open connection."""

        async def close() -> None:
            if self._server is not None:
                self._server.close()
                self._server = None
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._run(close())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, delay: float
        ) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while chunk := await source.read(65536):
                    if delay:
                        await asyncio.sleep(delay)
                    sink.write(chunk)
                    await sink.drain()
            with contextlib.suppress(OSError):
                sink.close()

        await asyncio.gather(pipe(reader, up_writer, 0), pipe(up_reader, writer, self.delay))
        self._writers.discard(writer)
        self._writers.discard(up_writer)
