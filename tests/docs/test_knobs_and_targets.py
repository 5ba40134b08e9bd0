"""docs/local-development.md lists every Task target and every knob, with the code's defaults."""

import re
from pathlib import Path
from typing import Any

import pytest
from markdown_checks import ROOT, listed_targets, task_names
from pydantic_settings import BaseSettings

DOC = ROOT / "docs/local-development.md"
RUNNER_SETTINGS = ROOT / "local/src/kontaxa_local/settings.py"
_ROW = re.compile(r"^\| `?([A-Z][A-Z0-9_]+)`? \| ([^|]+?) \| ([^|]+?) \|$", re.MULTILINE)


def section(title: str) -> str:
    """The text of the doc under a `###` heading, up to the next heading."""
    text = DOC.read_text()
    start = text.index(f"\n### {title}\n")
    end = text.find("\n#", start + 1)
    return text[start : end if end > 0 else None]


def rows(text: str) -> dict[str, str]:
    """Variable -> default cell of the knob tables in `text` (backticks dropped)."""
    return {name: default.replace("`", "").strip() for name, default, _ in _ROW.findall(text)}


def test_every_target_is_in_the_table() -> None:
    """A new Task target fails here until local-development.md says what it is for."""
    documented = task_names(DOC.read_text())
    # images:default is documented as `images`, its alias.
    missing = sorted(listed_targets() - documented - {"images:default"})
    assert not missing, f"docs/local-development.md lacks the targets {missing}"


def test_runner_knobs_match_the_code() -> None:
    """Names: what settings.py reads, what its own table lists, and the doc: the same set."""
    source = RUNNER_SETTINGS.read_text()
    read = set(re.findall(r'env\.get\("([A-Z0-9_]+)"', source))
    docstring = source.split('"""')[1]
    listed = rows(docstring)
    documented = rows(section("The runner (`local-up` and friends)"))
    assert read == set(listed) == set(documented), (read, set(listed), set(documented))
    for name, default in listed.items():
        prefix = default.split("...")[0]
        assert documented[name].startswith(prefix), (name, documented[name], default)


def test_runner_defaults_are_the_real_ones() -> None:
    """The string defaults, read from the settings object itself."""
    from kontaxa_local.settings import DEFAULT_PORTS, Settings

    settings = Settings.from_env({})
    documented = rows(section("The runner (`local-up` and friends)"))
    assert documented["LOCAL_RUNTIME"] == settings.runtime
    assert documented["LOCAL_EMULATOR"] == settings.emulator
    assert documented["LOCAL_PORTS"] == DEFAULT_PORTS
    assert documented["KIND_CLUSTER_NAME"] == settings.kind_cluster
    assert documented["KIND_NODE_IMAGE"] == settings.kind_node_image
    assert settings.state_dir.relative_to(ROOT) == Path(documented["LOCAL_STATE_DIR"])
    assert float(documented["LOCAL_READY_TIMEOUT"]) == settings.ready_timeout


def _default(value: Any) -> str:
    return "(unset)" if value is None else str(value)


def _service_settings() -> list[tuple[str, type[BaseSettings], tuple[str, ...]]]:
    from aux_service.config import Settings as AuxSettings
    from kontaxa_common.settings import ServiceSettings
    from main_api.config import Settings as MainSettings
    from secrets_provider.config import Settings as ProviderSettings

    common = tuple(ServiceSettings.model_fields)
    return [
        ("main-api and aux-service", ServiceSettings, ()),
        ("main-api and aux-service", MainSettings, common),
        ("main-api and aux-service", AuxSettings, common),
        ("The secrets provider (kind)", ProviderSettings, ()),
    ]


@pytest.mark.parametrize(
    ("title", "settings", "inherited"),
    _service_settings(),
    ids=["common", "main-api", "aux-service", "secrets-provider"],
)
def test_service_settings_are_documented(
    title: str, settings: type[BaseSettings], inherited: tuple[str, ...]
) -> None:
    """Each field of a settings class is a row with its default, under the right heading."""
    documented = rows(section(title))
    for name, field in settings.model_fields.items():
        if name in inherited:
            continue
        assert name.upper() in documented, f"{name.upper()} is not in docs/local-development.md"
        assert documented[name.upper()] == _default(field.default), name


def test_monitoring_knobs_match_the_code() -> None:
    """docs/monitoring.md's table: every LOCAL_MONITORING* knob the runner reads, its defaults."""
    from kontaxa_local.settings import DEFAULT_PORTS, Settings

    settings = Settings.from_env({})
    source = RUNNER_SETTINGS.read_text()
    knobs = {k for k in re.findall(r'env\.get\("([A-Z0-9_]+)"', source) if "MONITORING" in k}
    documented = rows((ROOT / "docs/monitoring.md").read_text())
    assert knobs == {k for k in documented if "MONITORING" in k}, (knobs, documented)
    assert documented["LOCAL_MONITORING"] == str(int(settings.monitoring))
    assert documented["LOCAL_MONITORING_INTERVAL"] == settings.monitoring_interval
    assert documented["LOCAL_PORTS"] == DEFAULT_PORTS
