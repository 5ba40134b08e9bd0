"""The API-key check, the one thing every data request runs."""

from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from kontaxa_common.errors import ApiError
from kontaxa_common.middleware import CredentialCheck, Scope, header_value
from kontaxa_common.secrets import SecretFiles, matches_any
from main_api.config import API_KEY_FILE_PREFIX

# How OpenAPI documents the check (kontaxa_common.web.require_credentials).
API_KEY_SCHEME = HTTPBearer(
    scheme_name="HTTPBearer",
    auto_error=False,
    description="An API key from the main-api secret.",
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def api_key_check(secrets: SecretFiles) -> CredentialCheck:
    """The check of `Authorization: Bearer <key>` against the mounted API keys."""

    def check(scope: Scope) -> None:
        """Accept the request only with a bearer token naming a current API key.

        The header is read as FastAPI's `HTTPBearer` reads it (the first Authorization
        header; the scheme before the first space, any case; the rest, stripped, is the
        key), with FastAPI's own parser, so every answer is the one the dependency gave.
        """
        authorization = header_value(scope, b"authorization")
        scheme, key = get_authorization_scheme_param(authorization)
        if not (scheme and key) or scheme.lower() != "bearer":
            message = "send an API key as 'Authorization: Bearer <key>'"
            raise ApiError(401, "unauthenticated", message, _CHALLENGE)
        if not matches_any(key, secrets.with_prefix(API_KEY_FILE_PREFIX)):
            raise ApiError(401, "unauthenticated", "the API key is not valid", _CHALLENGE)

    return check
