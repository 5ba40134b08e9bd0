"""Parameter-name rules shared by both services."""

import re

import hypothesis
import pytest

from kontaxa_common.parameters import (
    MAX_PREFIX_LENGTH,
    NAME_PATTERN,
    SSM_MAX_DEPTH,
    SSM_MAX_NAME_LENGTH,
    InvalidParameterName,
    name_schema,
    resolve_parameter_name,
    validate_parameter_name,
    validate_prefix,
)


@pytest.mark.parametrize(
    "name", ["a", "db/password", "A-Z_a.z/0-9", "x" * 910, "a/b/c/d", ".hidden", "...", "a/..b"]
)
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
        ("x" * 911, "911 characters"),
        ("/".join("x" * 11), "more than 10 levels"),
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
    # The longest and deepest relative names fit under the longest and deepest prefix.
    prefix = "/" + "/".join(["p" * 19] * 5)
    assert len(prefix) == MAX_PREFIX_LENGTH
    full = resolve_parameter_name(prefix, "/".join(["y" * 90] * 10))
    assert len(full) <= SSM_MAX_NAME_LENGTH
    assert full.count("/") <= SSM_MAX_DEPTH
    with pytest.raises(ValueError, match="at most 100 characters"):
        validate_prefix("/" + "p" * 100)
    with pytest.raises(ValueError, match="at most 5 levels"):
        validate_prefix("/a/b/c/d/e/f")


@hypothesis.given(
    hypothesis.strategies.one_of(
        hypothesis.strategies.text(alphabet="ab.-_/!%\x00é", max_size=30),
        hypothesis.strategies.from_regex(NAME_PATTERN, fullmatch=True),
    )
)
@hypothesis.settings(max_examples=500, database=None, derandomize=True)
def test_the_published_schema_is_what_validation_accepts(name: str) -> None:
    """The OpenAPI pattern and maximum length (name_schema) accept exactly the valid names."""
    schema = name_schema()
    by_schema = (
        schema["minLength"] <= len(name) <= schema["maxLength"]
        and re.fullmatch(schema["pattern"], name) is not None
    )
    try:
        validate_parameter_name(name)
        valid = True
    except InvalidParameterName:
        valid = False
    assert by_schema == valid, name


def test_only_valid_names_are_remembered() -> None:
    """The checks are memoised for speed: a refused name is checked (and refused) each time."""
    validate_parameter_name.cache_clear()
    for _ in range(3):
        with pytest.raises(InvalidParameterName):
            validate_parameter_name("a//b")
    assert validate_parameter_name.cache_info().currsize == 0
    assert validate_parameter_name("a/b") == "a/b"
    assert validate_parameter_name("a/b") == "a/b"
    info = validate_parameter_name.cache_info()
    assert (info.currsize, info.hits) == (1, 1)
