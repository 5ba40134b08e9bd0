"""SSM parameters under the configured prefix, through the single-flight cache."""

from fastapi import APIRouter

from aux_service.deps import AwsDep, CacheDep, MetadataDep, ServiceAuthenticated, SettingsDep
from aux_service.models import ErrorResponse, ParameterList, ParameterResponse
from kontaxa_common.errors import ApiError, error_responses
from kontaxa_common.parameters import InvalidParameterName, resolve_parameter_name

router = APIRouter(tags=["data"], dependencies=[ServiceAuthenticated])
# The list shares the cache with single names under a key no parameter name can take.
_LIST_KEY = "\0list"


@router.get(
    "/parameters",
    response_model=ParameterList,
    responses=error_responses(ErrorResponse, 401, 403, 429, 502, 503, 504),
)
async def list_parameters(
    aws: AwsDep, cache: CacheDep, settings: SettingsDep, metadata: MetadataDep
) -> dict[str, object]:
    """SSM GetParametersByPath under the prefix: recursive, every page; SecureString masked."""
    parameters = await cache.get(_LIST_KEY, aws.list_parameters)
    assert isinstance(parameters, list)
    return {
        "prefix": settings.parameter_prefix,
        "parameters": parameters,
        "count": len(parameters),
        "meta": metadata.meta(),
    }


@router.get(
    "/parameters/{name:path}",
    response_model=ParameterResponse,
    responses=error_responses(ErrorResponse, 400, 401, 403, 404, 429, 502, 503, 504),
)
async def get_parameter(
    name: str, aws: AwsDep, cache: CacheDep, settings: SettingsDep, metadata: MetadataDep
) -> dict[str, object]:
    """SSM GetParameter for `name` under the prefix; SecureString values are never returned."""
    try:
        full_name = resolve_parameter_name(settings.parameter_prefix, name)
    except InvalidParameterName as exc:
        raise ApiError(400, "invalid_parameter_name", str(exc)) from exc
    parameter = await cache.get(full_name, lambda: aws.get_parameter(full_name))
    return {"parameter": parameter, "meta": metadata.meta()}
