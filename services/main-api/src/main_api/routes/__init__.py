"""main-api's routes: one module per resource, combined in one place.

Each module builds its router from the app's parts, which its endpoints close over: a
FastAPI dependency costs every request time of its own (see docs/performance.md), so the
routes have none; the API-key check runs in the ASGI layer in front of the data routes
(kontaxa_common.web.require_credentials).
"""

from fastapi import APIRouter

from kontaxa_common.secrets import SecretFiles
from kontaxa_common.version import VersionMetadata
from main_api.clients.aux import AuxClient
from main_api.routes import buckets, health, parameters


def build_routers(
    metadata: VersionMetadata, secrets: SecretFiles, aux: AuxClient
) -> tuple[list[APIRouter], list[APIRouter]]:
    """The routers open to anyone, and those behind the API-key check."""
    return [health.build_router(metadata, secrets, aux)], [
        buckets.build_router(metadata, aux),
        parameters.build_router(metadata, aux),
    ]
