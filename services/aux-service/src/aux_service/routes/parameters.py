"""SSM parameters under the configured prefix, through the single-flight cache."""

from typing import Annotated

from fastapi import APIRouter, Path

from aux_service.models import ErrorResponse, ParameterList, ParameterResponse
from aux_service.store import ParameterStore
from kontaxa_common.errors import error_responses
from kontaxa_common.parameters import name_schema
from kontaxa_common.version import VersionMetadata

# The schema publishes the rule that validate_parameter_name enforces (with its own 400
# invalid_parameter_name, so FastAPI does not validate the path parameter itself).
ParameterName = Annotated[
    str, Path(description="Name relative to the parameter prefix.", json_schema_extra=name_schema())
]


def build_router(metadata: VersionMetadata, store: ParameterStore) -> APIRouter:
    """The parameter routes (app.py puts them behind the service-token check)."""
    router = APIRouter(tags=["data"])

    @router.get(
        "/parameters",
        response_model=ParameterList,
        responses=error_responses(ErrorResponse, 401, 403, 429, 502, 503, 504),
    )
    async def list_parameters() -> dict[str, object]:
        """SSM GetParametersByPath under the prefix: recursive, every page; SecureString masked."""
        found = await store.list()
        return {
            "prefix": store.prefix,
            "parameters": found,
            "count": len(found),
            "meta": metadata.meta(),
        }

    @router.get(
        "/parameters/{name:path}",
        response_model=ParameterResponse,
        responses=error_responses(ErrorResponse, 400, 401, 403, 404, 429, 502, 503, 504),
    )
    async def get_parameter(name: ParameterName) -> dict[str, object]:
        """SSM GetParameter for `name` under the prefix; SecureString values are never returned."""
        return {"parameter": await store.get(name), "meta": metadata.meta()}

    return router
