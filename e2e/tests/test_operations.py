"""Liveness, readiness and version of both services; version metadata everywhere."""

import re
import subprocess
from datetime import UTC, datetime

import httpx
import pytest

from kontaxa_e2e.targets import Target
from kontaxa_local.settings import REPO_ROOT


def _checkout_head() -> str:
    """This checkout's HEAD, read here with git itself (not through the runner's code)."""
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--verify", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.mark.parametrize("service", ["main-api", "aux-service"])
def test_health_ready_version(target: Target, service: str) -> None:
    url = target.main_url if service == "main-api" else target.aux_url
    config = target.config_values(service)
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/health").json()["status"] == "ok"
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        version = client.get("/version").json()
    assert version["service"] == service
    assert (version["version"], version["git_sha"], version["build_time"]) == (
        config["APP_VERSION"],
        config["GIT_SHA"],
        config["BUILD_TIME"],
    )


def test_main_api_reports_aux_service_version(target: Target, main: httpx.Client) -> None:
    aux_config = target.config_values("aux-service")
    body = main.get("/version").json()
    assert body["aux_service"]["version"] == aux_config["APP_VERSION"]


def test_version_metadata_on_every_response(
    target: Target, main: httpx.Client, auth: object
) -> None:
    main_config = target.config_values("main-api")
    aux_config = target.config_values("aux-service")
    main.get("/version")
    headers = auth()  # type: ignore[operator]
    cases = [
        ("/health", {}, 200),
        ("/buckets", headers, 200),
        ("/parameters/missing", headers, 404),
        ("/parameters/bad%20name", headers, 400),
        ("/buckets", {}, 401),
        ("/nowhere", {}, 404),
    ]
    for path, path_headers, status in cases:
        response = main.get(path, headers=path_headers)
        assert response.status_code == status, (path, response.text)
        assert response.headers["X-Main-Api-Version"] == main_config["APP_VERSION"]
        assert response.headers["X-Aux-Service-Version"] == aux_config["APP_VERSION"]
        assert response.json()["meta"] == {
            "main_api_version": main_config["APP_VERSION"],
            "aux_service_version": aux_config["APP_VERSION"],
            "git_sha": main_config["GIT_SHA"],
            "build_time": main_config["BUILD_TIME"],
        }


def test_git_sha_is_the_commit_the_stack_came_from(target: Target) -> None:
    """Both services say which commit runs: the one the target was built or brought up from
    (the working tree's, `-dirty` with uncommitted changes), with a real RFC 3339 build time."""
    if target.source_revision is None:
        pytest.skip(
            f"the {target.name} target does not say which commit it runs (url target: "
            "--expected-git-sha)"
        )
    for url in (target.main_url, target.aux_url):
        with httpx.Client(base_url=url, timeout=30) as client:
            body = client.get("/version").json()
        assert body["git_sha"] == target.source_revision, body
        # Anchored outside the runner too: a commit id (the runner's `unknown` or `dev`
        # would fail), and on the targets built from this checkout its HEAD.
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", body["git_sha"]), body
        if target.name in ("process", "containers"):
            assert body["git_sha"].removesuffix("-dirty") == _checkout_head(), body
        built = datetime.strptime(body["build_time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if target.brought_up is not None:  # the process runtime stamps the bring-up's time
            started, ready = target.brought_up
            assert started - 1 <= built.timestamp() <= ready, (body, target.brought_up)
