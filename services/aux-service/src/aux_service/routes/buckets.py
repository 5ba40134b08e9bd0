"""S3 buckets."""

from fastapi import APIRouter

from aux_service.aws import AwsGateway
from aux_service.models import BucketList, ErrorResponse
from kontaxa_common.errors import error_responses
from kontaxa_common.version import VersionMetadata


def build_router(metadata: VersionMetadata, aws: AwsGateway) -> APIRouter:
    """The bucket routes (app.py puts them behind the service-token check)."""
    router = APIRouter(tags=["data"])

    @router.get(
        "/buckets",
        response_model=BucketList,
        responses=error_responses(ErrorResponse, 401, 403, 429, 502, 503, 504),
    )
    async def list_buckets() -> dict[str, object]:
        """S3 ListBuckets."""
        buckets = await aws.list_buckets()
        return {"buckets": buckets, "count": len(buckets), "meta": metadata.meta()}

    return router
