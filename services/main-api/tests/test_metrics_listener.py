"""The metrics listener of a real `python -m main_api` process: its own port, not the app's.

On EKS the app port is public through the Ingress; the metrics port is reached by
Prometheus only (infra/k8s/apps/<service>: PodMonitor, NetworkPolicy).
"""

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kontaxa_common.settings import ServiceSettings
from kontaxa_e2e.inprocess import Keys
from kontaxa_e2e.servers import wait_for_port
from kontaxa_local.process_runtime import free_port

from .conftest import process_env


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_metrics_port_serves_the_counters_and_stops_with_the_service(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    secrets = Keys().write(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "main_api"],
        env=process_env(secrets, port, metrics_port),
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=30)
        wait_for_port(metrics_port, timeout=10)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
        on_app_port = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert on_app_port.status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        assert (
            'http_requests_total{method="GET",route="/health",service="main-api",status="200"} 1.0'
        ) in scraped.text
        assert 'status="404"' in scraped.text  # the app port's /metrics: an unknown path
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn (0.54, Server.capture_signals) shuts down gracefully, then re-raises the
        # signal with the default handler restored: the exit status is "killed by SIGTERM".
        assert process.wait(timeout=30) == -signal.SIGTERM
    assert _refused(metrics_port)


def test_a_taken_metrics_port_fails_the_start_with_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    secrets = Keys().write(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        metrics_port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "main_api"],
            env=process_env(secrets, port, metrics_port),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode != 0
    assert f"cannot bind 127.0.0.1:{metrics_port}" in result.stderr
    assert "METRICS_PORT" in result.stderr


def test_the_metrics_port_must_differ_from_the_app_port() -> None:
    with pytest.raises(ValueError, match=r"METRICS_PORT .* must differ from PORT"):
        ServiceSettings(port=8080, metrics_port=8080)
