"""SSM parameters, through aux-service."""

from typing import Annotated

from fastapi import APIRouter, Path

from kontaxa_common.errors import ApiError, error_responses
from kontaxa_common.parameters import InvalidParameterName, name_schema, validate_parameter_name
from kontaxa_common.version import VersionMetadata
from main_api.clients.aux import AuxClient
from main_api.models import ErrorResponse, ParameterList, ParameterResponse

# The schema publishes the rule that validate_parameter_name enforces (with its own 400
# invalid_parameter_name, so FastAPI does not validate the path parameter itself).
ParameterName = Annotated[
    str, Path(description="Name relative to the parameter prefix.", json_schema_extra=name_schema())
]


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
    async def get_parameter(name: ParameterName) -> dict[str, object]:
        """One parameter by its name relative to the prefix (may contain '/')."""
        try:
            validate_parameter_name(name)
        except InvalidParameterName as exc:
            raise ApiError(400, "invalid_parameter_name", str(exc)) from exc
        body = await aux.parameter(name)
        return {"parameter": body.parameter, "meta": metadata.meta()}

    return router
