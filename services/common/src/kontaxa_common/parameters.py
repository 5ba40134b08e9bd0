"""Parameter-name rules, applied by main-api before any upstream call and by aux-service.

Names are relative to aux-service's configured prefix; they may contain `/`.
"""

import re

MAX_NAME_LENGTH = 1011  # SSM's limit for a parameter name
MAX_DEPTH = 15  # SSM's limit of hierarchy levels
_ALLOWED = re.compile(r"[A-Za-z0-9_.\-/]+")


class InvalidParameterName(ValueError):
    """A parameter name that must be refused before any AWS call."""


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
    return name


def resolve_parameter_name(prefix: str, name: str) -> str:
    """The full SSM name of relative `name` under `prefix`, validated; never escapes the prefix."""
    validate_parameter_name(name)
    full = f"{prefix.rstrip('/')}/{name}"
    if len(full) > MAX_NAME_LENGTH:
        raise InvalidParameterName(
            f"parameter name is too long once under the prefix: {len(full)} > {MAX_NAME_LENGTH}"
        )
    if full.count("/") > MAX_DEPTH:
        raise InvalidParameterName(f"parameter name is deeper than {MAX_DEPTH} levels")
    return full
