"""S3 buckets, through aux-service."""

from fastapi import APIRouter

from kontaxa_common.errors import error_responses
from kontaxa_common.version import VersionMetadata
from main_api.clients.aux import AuxClient
from main_api.models import BucketList, ErrorResponse


def build_router(metadata: VersionMetadata, aux: AuxClient) -> APIRouter:
    """The bucket routes."""
    router = APIRouter(tags=["data"])

    @router.get(
        "/buckets",
        response_model=BucketList,
        responses=error_responses(ErrorResponse, 401, 403, 429, 502, 503, 504),
    )
    async def list_buckets() -> dict[str, object]:
        """The S3 buckets aux-service's role can list."""
        body = await aux.buckets()
        return {"buckets": body.buckets, "count": body.count, "meta": metadata.meta()}

    return router
