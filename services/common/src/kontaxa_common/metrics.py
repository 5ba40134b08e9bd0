"""Prometheus metrics, one registry per app so several apps can live in one process (tests)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Buckets from 1 ms to 10 s: a cache hit sits at the bottom, an AWS timeout at the top.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The metrics both services expose on their metrics port (`server.metrics_listener`)."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests served, by route template and status.",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "http_request_duration_seconds",
            "Time to serve an HTTP request, by route template and status.",
            ["service", "method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_duration = Histogram(
            "upstream_request_duration_seconds",
            "Time of calls to upstreams (aux-service; AWS by operation), by outcome.",
            ["service", "upstream", "operation", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_retries = Counter(
            "upstream_retries_total",
            "Calls to an upstream retried after a connect error.",
            ["service", "upstream"],
            registry=self.registry,
        )
        self.upstream_up = Gauge(
            "upstream_up",
            "1 when the upstream answered the last call (any status), 0 when it did not.",
            ["service", "upstream"],
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            "cache_lookups_total",
            "Cache lookups by cache and result (hit or miss).",
            ["service", "cache", "result"],
            registry=self.registry,
        )
        self._service = service
        # Labelled children, looked up once per label set: on the hot path the lookup costs
        # more than the increment.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._cache_children: dict[tuple[str, bool], Counter] = {}
        self._upstream_children: dict[tuple[str, str, str], Histogram] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one served request and its latency."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            labels = (self._service, method, route, str(status))
            children = (self.requests.labels(*labels), self.request_duration.labels(*labels))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_upstream(self, upstream: str, operation: str, outcome: str, seconds: float) -> None:
        """Record one upstream call."""
        key = (upstream, operation, outcome)
        child = self._upstream_children.get(key)
        if child is None:
            child = self.upstream_duration.labels(self._service, *key)
            self._upstream_children[key] = child
        child.observe(seconds)

    def set_upstream_up(self, upstream: str, up: bool) -> None:
        """Record whether the upstream answered usably on the last call."""
        self.upstream_up.labels(self._service, upstream).set(1 if up else 0)

    def count_retry(self, upstream: str) -> None:
        """Count one retry of an upstream call."""
        self.upstream_retries.labels(self._service, upstream).inc()

    def count_cache(self, cache: str, hit: bool) -> None:
        """Count one cache lookup."""
        child = self._cache_children.get((cache, hit))
        if child is None:
            child = self.cache_lookups.labels(self._service, cache, "hit" if hit else "miss")
            self._cache_children[(cache, hit)] = child
        child.inc()
