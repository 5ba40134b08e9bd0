"""Request dependencies: the API-key check, the one thing every data request runs."""

import hmac

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from kontaxa_common.errors import ApiError
from kontaxa_common.secrets import SecretFiles
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
        offered = credentials.credentials.encode()
        secrets: SecretFiles = request.app.state.secrets
        matched = False
        # Compare with every key, in constant time each, so timing reveals nothing.
        for key in secrets.with_prefix(API_KEY_FILE_PREFIX):
            matched |= hmac.compare_digest(offered, key.encode())
        if not matched:
            raise ApiError(401, "unauthenticated", "the API key is not valid", challenge)
        return credentials


Authenticated = Depends(
    ApiKeyBearer(
        scheme_name="HTTPBearer",
        auto_error=False,
        description="An API key from the main-api secret.",
    )
)
