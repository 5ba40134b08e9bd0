"""Parameter-name rules, applied by main-api before any upstream call and by aux-service.

Names are relative to aux-service's configured prefix; they may contain `/`. SSM allows a
full name of 1011 characters and 15 levels; the prefix may take at most MAX_PREFIX_LENGTH
characters and MAX_PREFIX_DEPTH levels (aux-service refuses a longer one at start), which
leaves every relative name the same budget whatever the prefix. So one definition, the
pattern and maximum length below, is what both services enforce and what both publish in
their OpenAPI schema (`name_schema`).
"""

import functools
import re
from typing import Annotated, Any

from fastapi import Path

SSM_MAX_NAME_LENGTH = 1011  # SSM's limit for a full parameter name
SSM_MAX_DEPTH = 15  # SSM's limit of hierarchy levels
MAX_PREFIX_LENGTH = 100
MAX_PREFIX_DEPTH = 5
# What is left for a relative name: the prefix, a joining '/', and the name.
MAX_NAME_LENGTH = SSM_MAX_NAME_LENGTH - MAX_PREFIX_LENGTH - 1
MAX_SEGMENTS = SSM_MAX_DEPTH - MAX_PREFIX_DEPTH
# A segment: letters, digits, _ . - and never "." or ".." alone (no lookahead, so that any
# JSON Schema tool, schemathesis' generator included, reads it).
_SEGMENT = r"(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.\.[A-Za-z0-9_.-]+)"
NAME_PATTERN = rf"^{_SEGMENT}(?:/{_SEGMENT}){{0,{MAX_SEGMENTS - 1}}}$"
_NAME = re.compile(NAME_PATTERN)
_ALLOWED = re.compile(r"[A-Za-z0-9_.\-/]+")


class InvalidParameterName(ValueError):
    """A parameter name that must be refused before any AWS call."""


def name_schema() -> dict[str, Any]:
    """The OpenAPI schema keywords of a relative name: exactly what validation accepts."""
    return {"pattern": NAME_PATTERN, "maxLength": MAX_NAME_LENGTH, "minLength": 1}


def documented_name(
    name: Annotated[
        str,
        Path(description="Name relative to the parameter prefix.", json_schema_extra=name_schema()),
    ],
) -> None:
    """The `{name}` path parameter as both services publish it: the rule that
    validate_parameter_name enforces, with its own 400 invalid_parameter_name, so FastAPI
    neither validates nor solves it (kontaxa_common.web.document_path_parameters)."""


# Both checks below are pure and run on every request for a name: a name seen recently is
# looked up instead of checked again (0.1 us against about 2). Only valid names are kept
# (an invalid one raises, and lru_cache keeps no exception), at most this many of them.
_RECENT_NAMES = 1024


@functools.lru_cache(maxsize=_RECENT_NAMES)
def validate_parameter_name(name: str) -> str:
    """Return `name` if it is a valid relative parameter name, else raise InvalidParameterName."""
    if not name:
        raise InvalidParameterName("parameter name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameterName(
            f"parameter name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
        )
    if _ALLOWED.fullmatch(name) is None:
        raise InvalidParameterName(
            "parameter name may contain only letters, digits and the characters _ . - /"
        )
    if name.startswith("/"):
        raise InvalidParameterName(
            "parameter names are relative to the service's prefix: drop the leading '/'"
        )
    segments = name.split("/")
    if any(segment in ("..", ".") for segment in segments):
        raise InvalidParameterName("parameter name may not contain '.' or '..' segments")
    if any(segment == "" for segment in segments):
        raise InvalidParameterName(
            "parameter name may not contain empty segments ('//' or '/' at the end)"
        )
    if len(segments) > MAX_SEGMENTS:
        raise InvalidParameterName(f"parameter name has more than {MAX_SEGMENTS} levels")
    if _NAME.fullmatch(name) is None:  # the published rule itself, should a check above miss
        raise InvalidParameterName("parameter name does not match " + NAME_PATTERN)
    return name


def validate_prefix(prefix: str) -> str:
    """Return `prefix` if it leaves every valid relative name room under SSM's limits."""
    trimmed = prefix.rstrip("/")
    if len(trimmed) > MAX_PREFIX_LENGTH:
        raise ValueError(f"the parameter prefix may be at most {MAX_PREFIX_LENGTH} characters")
    if trimmed.count("/") > MAX_PREFIX_DEPTH:
        raise ValueError(f"the parameter prefix may have at most {MAX_PREFIX_DEPTH} levels")
    return prefix


@functools.lru_cache(maxsize=_RECENT_NAMES)
def resolve_parameter_name(prefix: str, name: str) -> str:
    """The full SSM name of relative `name` under `prefix`, validated; never escapes the prefix."""
    validate_parameter_name(name)
    full = f"{validate_prefix(prefix).rstrip('/')}/{name}"
    # Holds by the budgets above; checked again because SSM would refuse the call otherwise.
    if len(full) > SSM_MAX_NAME_LENGTH or full.count("/") > SSM_MAX_DEPTH:
        raise InvalidParameterName("parameter name is too long once under the prefix")
    return full
