"""Request dependencies as `Annotated` aliases."""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kontaxa_common.errors import ApiError
from kontaxa_common.secrets import SecretFiles
from kontaxa_common.version import VersionMetadata
from main_api.clients.aux import AuxClient
from main_api.config import API_KEY_FILE_PREFIX

_bearer = HTTPBearer(auto_error=False, description="An API key from the main-api secret.")


def get_aux(request: Request) -> AuxClient:
    """The app's aux-service client."""
    aux: AuxClient = request.app.state.aux
    return aux


def get_metadata(request: Request) -> VersionMetadata:
    """The app's version metadata."""
    metadata: VersionMetadata = request.app.state.metadata
    return metadata


def get_secrets(request: Request) -> SecretFiles:
    """The app's secret files."""
    secrets: SecretFiles = request.app.state.secrets
    return secrets


def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Accept the request only with `Authorization: Bearer <key>` naming a current API key."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            401, "unauthenticated", "send an API key as 'Authorization: Bearer <key>'", challenge
        )
    offered = credentials.credentials.encode()
    matched = False
    # Compare with every key, in constant time each, so timing reveals nothing.
    for key in get_secrets(request).with_prefix(API_KEY_FILE_PREFIX):
        matched |= hmac.compare_digest(offered, key.encode())
    if not matched:
        raise ApiError(401, "unauthenticated", "the API key is not valid", challenge)


AuxDep = Annotated[AuxClient, Depends(get_aux)]
MetadataDep = Annotated[VersionMetadata, Depends(get_metadata)]
SecretsDep = Annotated[SecretFiles, Depends(get_secrets)]
Authenticated = Depends(require_api_key)
