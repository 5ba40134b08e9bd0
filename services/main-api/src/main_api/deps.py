"""Request dependencies: the API-key check, the one thing every data request runs."""

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from kontaxa_common.errors import ApiError
from kontaxa_common.secrets import SecretFiles, matches_any
from main_api.config import API_KEY_FILE_PREFIX


class ApiKeyBearer(HTTPBearer):
    """`Authorization: Bearer <key>`, checked against the mounted API keys.

    A security scheme itself, so OpenAPI documents it and a request runs one dependency.
    """

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials:
        """Accept the request only with a bearer token naming a current API key."""
        challenge = {"WWW-Authenticate": "Bearer"}
        credentials = await super().__call__(request)
        if credentials is None or credentials.scheme.lower() != "bearer":
            message = "send an API key as 'Authorization: Bearer <key>'"
            raise ApiError(401, "unauthenticated", message, challenge)
        secrets: SecretFiles = request.app.state.secrets
        if not matches_any(credentials.credentials, secrets.with_prefix(API_KEY_FILE_PREFIX)):
            raise ApiError(401, "unauthenticated", "the API key is not valid", challenge)
        return credentials


Authenticated = Depends(
    ApiKeyBearer(
        scheme_name="HTTPBearer",
        auto_error=False,
        description="An API key from the main-api secret.",
    )
)
