"""SSM parameters under the prefix, read through the single-flight cache."""

from aux_service.aws import AwsGateway
from aux_service.cache import SingleFlightCache
from kontaxa_common.errors import ApiError
from kontaxa_common.models import Parameter
from kontaxa_common.parameters import InvalidParameterName, resolve_parameter_name

# The list shares the cache with single names under a key no parameter name can take.
_LIST_KEY = "\0list"


class ParameterStore:
    """Resolves relative names under `prefix` and reads them through `cache` from `aws`."""

    def __init__(
        self, aws: AwsGateway, cache: SingleFlightCache[Parameter | list[Parameter]], prefix: str
    ) -> None:
        self._aws = aws
        self.cache = cache
        self.prefix = prefix

    async def get(self, name: str) -> Parameter:
        """One parameter by its relative name; an invalid name is a 400 without an AWS call."""
        try:
            full_name = resolve_parameter_name(self.prefix, name)
        except InvalidParameterName as exc:
            raise ApiError(400, "invalid_parameter_name", str(exc)) from exc
        parameter = await self.cache.get(full_name, lambda: self._aws.get_parameter(full_name))
        assert isinstance(parameter, Parameter)
        return parameter

    async def list(self) -> list[Parameter]:
        """Every parameter under the prefix (SecureString values masked)."""
        parameters = await self.cache.get(_LIST_KEY, self._aws.list_parameters)
        assert isinstance(parameters, list)
        return parameters
