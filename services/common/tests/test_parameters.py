"""Parameter-name rules shared by both services."""

import pytest

from kontaxa_common.parameters import (
    InvalidParameterName,
    resolve_parameter_name,
    validate_parameter_name,
)


@pytest.mark.parametrize("name", ["a", "db/password", "A-Z_a.z/0-9", "x" * 1011, "a/b/c/d"])
def test_valid_names(name: str) -> None:
    assert validate_parameter_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("a b", "may contain only"),
        ("a\x00b", "may contain only"),
        ("a\nb", "may contain only"),
        ("w\u0435lcome", "may contain only"),  # Cyrillic e
        ("a%2Fb", "may contain only"),
        ("x" * 1012, "1012 characters"),
        ("/abs/name", "relative"),
        ("..", "'..' segments"),
        ("a/../b", "'..' segments"),
        ("./a", "'..' segments"),
        ("a//b", "empty segments"),
        ("a/", "empty segments"),
    ],
)
def test_invalid_names_say_why(name: str, reason: str) -> None:
    with pytest.raises(InvalidParameterName, match=reason.replace(".", r"\.")):
        validate_parameter_name(name)


def test_resolution_stays_under_the_prefix() -> None:
    assert resolve_parameter_name("/kontaxa/app", "db/password") == "/kontaxa/app/db/password"
    assert resolve_parameter_name("/kontaxa/app/", "x") == "/kontaxa/app/x"
    with pytest.raises(InvalidParameterName, match="once under the prefix"):
        resolve_parameter_name("/kontaxa/app", "x" * 1005)
    with pytest.raises(InvalidParameterName, match="deeper than 15"):
        resolve_parameter_name("/kontaxa/app", "/".join("x" * 14))
