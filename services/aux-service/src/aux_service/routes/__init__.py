"""aux-service's routes: one module per resource, combined in one place.

Each module builds its router from the app's parts, which its endpoints close over: a
FastAPI dependency costs every request time of its own (see docs/performance.md), so
there are none: the service-token check runs in the ASGI layer (app.py).
"""

from fastapi import APIRouter

from aux_service.aws import AwsGateway
from aux_service.config import Settings
from aux_service.routes import buckets, health, parameters
from aux_service.store import ParameterStore
from kontaxa_common.secrets import SecretFiles
from kontaxa_common.version import VersionMetadata


def build_routers(
    settings: Settings,
    metadata: VersionMetadata,
    secrets: SecretFiles,
    aws: AwsGateway,
    store: ParameterStore,
) -> tuple[list[APIRouter], list[APIRouter]]:
    """Every router of the service, wired to the app's parts: (open, data).

    The data routers answer only callers with the service token.
    """
    return (
        [health.build_router(settings, metadata, secrets, aws)],
        [buckets.build_router(metadata, aws), parameters.build_router(metadata, store)],
    )
