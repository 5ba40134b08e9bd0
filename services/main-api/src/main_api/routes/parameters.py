"""SSM parameters, through aux-service."""

from fastapi import APIRouter, Request

from kontaxa_common.errors import ApiError, error_responses
from kontaxa_common.parameters import (
    InvalidParameterName,
    documented_name,
    validate_parameter_name,
)
from kontaxa_common.version import VersionMetadata
from kontaxa_common.web import document_path_parameters
from main_api.clients.aux import AuxClient
from main_api.models import ErrorResponse, ParameterList, ParameterResponse


def build_router(metadata: VersionMetadata, aux: AuxClient) -> APIRouter:
    """The parameter routes."""
    router = APIRouter(tags=["data"])

    @router.get(
        "/parameters",
        response_model=ParameterList,
        responses=error_responses(ErrorResponse, 401, 403, 429, 502, 503, 504),
    )
    async def list_parameters() -> dict[str, object]:
        """Every parameter under aux-service's prefix; SecureString values masked."""
        body = await aux.parameters()
        return {
            "prefix": body.prefix,
            "parameters": body.parameters,
            "count": body.count,
            "meta": metadata.meta(),
        }

    @router.get(
        "/parameters/{name:path}",
        response_model=ParameterResponse,
        responses=error_responses(ErrorResponse, 400, 401, 403, 404, 429, 502, 503, 504),
    )
    async def get_parameter(request: Request) -> dict[str, object]:
        """One parameter by its name relative to the prefix (may contain '/')."""
        name: str = request.path_params["name"]
        try:
            validate_parameter_name(name)
        except InvalidParameterName as exc:
            raise ApiError(400, "invalid_parameter_name", str(exc)) from exc
        body = await aux.parameter(name)
        return {"parameter": body.parameter, "meta": metadata.meta()}

    document_path_parameters(router, get_parameter, documented_name)
    return router
