"""`task bench -- --cases`: a selection of cases by key, for side-by-side comparisons."""

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e" / "bench"))

from run import selection


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


@pytest.mark.parametrize("option", ["3,9", "", ",", "version"])
def test_an_unknown_case_is_refused_with_the_keys(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        selection(option, argparse.ArgumentParser())
    assert exited.value.code == 2
    assert "case keys such as 3,6" in capsys.readouterr().err
