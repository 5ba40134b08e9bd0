"""The TTL cache with single flight: concurrent misses make one SSM call."""

import asyncio
import time
from pathlib import Path

import httpx

from kontaxa_e2e.emulator import Emulator
from kontaxa_e2e.inprocess import SeedData, scrape_app

from .conftest import Aux, start_aux


async def _concurrent_gets(aux: Aux, path: str, count: int) -> list[int]:
    headers = {"X-Service-Token": aux.keys.service_token}
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=aux.server.url, limits=limits, timeout=30) as client:
        replies = await asyncio.gather(*(client.get(path, headers=headers) for _ in range(count)))
    return [reply.status_code for reply in replies]


def test_fifty_concurrent_misses_make_one_ssm_call(
    emulator: Emulator, seeded: SeedData, secrets_root: Path
) -> None:
    # The one call all fifty wait on gets time to spare: under a full test run's load the
    # emulator's first GetParameter once outlasted the default 1.4 s twice (all fifty 504,
    # CI 2026-12-04), and the deadline is not what this test is about.
    generous = {"aws_read_timeout_seconds": 10.0, "aws_deadline_seconds": 30.0}
    with start_aux(emulator.url, secrets_root, seeded, **generous) as aux:
        statuses = asyncio.run(_concurrent_gets(aux, "/parameters/welcome-message", 50))
        assert statuses == [200] * 50
        assert aux.calls["GetParameter"] == 1


def test_warm_reads_do_not_call_ssm_again(aux: Aux) -> None:
    for _ in range(20):
        assert aux.get("/parameters/feature-flags").status_code == 200
    assert aux.calls["GetParameter"] == 1
    metrics = scrape_app(aux.app)
    assert (
        'cache_lookups_total{cache="parameters",result="hit",service="aux-service"} 19.0' in metrics
    )


def test_a_missing_parameter_is_remembered_for_a_few_seconds(
    emulator: Emulator, seeded: SeedData, secrets_root: Path
) -> None:
    """Each miss was one GetParameter: a caller asking for one missing name in a loop spent
    the account's shared SSM rate (about 40 a second) for everyone. Created meanwhile, the
    parameter is seen once the missing TTL is over."""
    with start_aux(emulator.url, secrets_root, seeded, parameter_missing_ttl_seconds=1.0) as aux:
        for _ in range(5):
            response = aux.get("/parameters/created-later")
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "not_found"
        assert aux.calls["GetParameter"] == 1
        emulator.client("ssm").put_parameter(
            Name="/kontaxa/app/created-later", Value="here", Type="String"
        )
        time.sleep(1.1)
        assert aux.get("/parameters/created-later").json()["parameter"]["value"] == "here"
        assert aux.calls["GetParameter"] == 2


def test_missing_ttl_zero_asks_every_time(
    emulator: Emulator, seeded: SeedData, secrets_root: Path
) -> None:
    with start_aux(emulator.url, secrets_root, seeded, parameter_missing_ttl_seconds=0) as aux:
        assert aux.get("/parameters/missing").status_code == 404
        assert aux.get("/parameters/missing").status_code == 404
        assert aux.calls["GetParameter"] == 2


def test_ttl_zero_disables_the_cache(
    emulator: Emulator, seeded: SeedData, secrets_root: Path
) -> None:
    with start_aux(emulator.url, secrets_root, seeded, parameter_cache_ttl_seconds=0) as aux:
        for _ in range(3):
            assert aux.get("/parameters/welcome-message").status_code == 200
        assert aux.calls["GetParameter"] == 3


def test_cache_expires_after_ttl(emulator: Emulator, seeded: SeedData, secrets_root: Path) -> None:
    with start_aux(emulator.url, secrets_root, seeded, parameter_cache_ttl_seconds=2.0) as aux:
        assert aux.get("/parameters/welcome-message").status_code == 200
        emulator.client("ssm").put_parameter(
            Name="/kontaxa/app/welcome-message", Value="changed", Type="String", Overwrite=True
        )
        assert aux.get("/parameters/welcome-message").json()["parameter"]["value"] != "changed"
        time.sleep(2.1)  # a TTL of 2 s: a loaded machine must not expire it early
        fresh = aux.get("/parameters/welcome-message").json()["parameter"]
        assert (fresh["value"], fresh["version"]) == ("changed", 2)
