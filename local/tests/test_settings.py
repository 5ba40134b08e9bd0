"""Runner settings: every knob from the environment, bad values refused with a clear error."""

import pytest

from kontaxa_local.settings import REPO_ROOT, Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.runtime, settings.emulator) == ("auto", "moto")
    assert settings.ports == {
        "main-api": 8080,
        "aux-service": 8081,
        "main-api-metrics": 19100,
        "aux-service-metrics": 19101,
        "emulator": 4566,
        "prometheus": 19090,
        "alertmanager": 19093,
    }
    assert settings.state_dir == REPO_ROOT / ".local"
    assert (settings.monitoring, settings.monitoring_interval) == (True, "5s")


def test_overrides() -> None:
    settings = Settings.from_env(
        {
            "LOCAL_RUNTIME": "process",
            "LOCAL_EMULATOR": "localstack",
            "LOCAL_PORTS": "main-api=0,emulator=5000",
            "LOCAL_STATE_DIR": "/tmp/x",
            "LOCAL_RELOAD": "1",
            "LOCALSTACK_AUTH_TOKEN": "t",
            "LOCAL_MONITORING": "0",
            "LOCAL_MONITORING_INTERVAL": "",
        }
    )
    assert not settings.monitoring
    assert settings.monitoring_interval == ""  # the cluster's intervals
    assert settings.port("main-api") == 0
    assert settings.port("emulator") == 5000
    assert settings.port("aux-service") == 0  # unlisted: a free port
    assert str(settings.state_dir) == "/tmp/x"
    assert settings.reload
    assert settings.localstack_auth_token == "t"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LOCAL_RUNTIME": "docker"}, "LOCAL_RUNTIME must be"),
        ({"LOCAL_EMULATOR": "minio"}, "LOCAL_EMULATOR must be"),
        ({"LOCAL_PORTS": "main-api:8080"}, "LOCAL_PORTS"),
        ({"LOCAL_MONITORING_INTERVAL": "5"}, "LOCAL_MONITORING_INTERVAL: expected a duration"),
    ],
)
def test_bad_values_say_what_is_wrong(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(environ)
