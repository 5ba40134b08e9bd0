"""SSM parameters under the configured prefix, through the single-flight cache."""

from fastapi import APIRouter, Request

from aux_service.models import ErrorResponse, ParameterList, ParameterResponse
from aux_service.store import ParameterStore
from kontaxa_common.errors import error_responses
from kontaxa_common.parameters import documented_name
from kontaxa_common.version import VersionMetadata
from kontaxa_common.web import document_path_parameters


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
    async def get_parameter(request: Request) -> dict[str, object]:
        """SSM GetParameter for `name` under the prefix; SecureString values are never returned."""
        name: str = request.path_params["name"]  # validated by the store
        return {"parameter": await store.get(name), "meta": metadata.meta()}

    document_path_parameters(router, get_parameter, documented_name)
    return router
