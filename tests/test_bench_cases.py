"""`task bench -- --cases`: a selection of cases by key, for side-by-side comparisons."""

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e" / "bench"))

from candidates import REPLACED_AT, replaced_source
from run import parse_args, selection


@pytest.mark.parametrize(
    ("option", "selected"),
    [
        ("3,6", ["3", "6"]),
        ("6, 6-httpx", ["6", "6-httpx"]),
        ("all", None),
        ("throughput", None),
        ("bringup", None),
    ],
)
def test_cases_are_selected_by_key(option: str, selected: list[str] | None) -> None:
    assert selection(option, argparse.ArgumentParser()) == selected


@pytest.mark.parametrize("option", ["3,9", "", ",", "version", "6-typo", "6-"])
def test_an_unknown_case_is_refused_with_the_keys(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        selection(option, argparse.ArgumentParser())
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "keys from 1, 2, 3, 4, 5, 6, 7, 6-aiohttp" in error
    assert repr(option) in error


def test_an_unknown_client_is_refused_with_the_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["run.py", "--clients", "aiohttp,requests"])
    with pytest.raises(SystemExit) as exited:
        parse_args()
    assert exited.value.code == 2
    assert (
        "names from aiohttp, aiosonic, httpx, pyqwest, rnet, replaced, unfrozen, normal "
        "(not requests)" in capsys.readouterr().err
    )


def test_the_replaced_client_is_read_from_history_where_the_clone_has_it() -> None:
    source = replaced_source()
    if source is None:
        pytest.skip(f"this clone's git history does not reach {REPLACED_AT} (a shallow clone)")
    assert "class ConnectionPool" in source
    assert "import httptools" in source
