"""The aux-service application factory."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aux_service.aws import AwsGateway
from aux_service.cache import SingleFlightCache
from aux_service.config import SERVICE_NAME, Settings
from aux_service.deps import SERVICE_TOKEN_SCHEME, service_token_check
from aux_service.routes import build_routers
from aux_service.store import ParameterStore
from kontaxa_common.errors import ApiError
from kontaxa_common.logs import Redactor, configure_logging
from kontaxa_common.metrics import Metrics
from kontaxa_common.models import Parameter
from kontaxa_common.secrets import SecretFiles
from kontaxa_common.server import metrics_listener
from kontaxa_common.version import VersionMetadata
from kontaxa_common.web import add_routes, app_options, install_common, require_credentials


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build aux-service from `settings` (read from the environment when omitted)."""
    settings = settings or Settings()
    redactor = Redactor()
    configure_logging(SERVICE_NAME, settings.log_level, redactor)
    metadata = VersionMetadata(
        SERVICE_NAME, settings.app_version, settings.git_sha, settings.build_time
    )
    metrics = Metrics(SERVICE_NAME)
    secrets = SecretFiles(settings.secrets_dir, settings.secrets_reload_seconds, redactor)
    parameter_cache: SingleFlightCache[Parameter | list[Parameter]] = SingleFlightCache(
        settings.parameter_cache_ttl_seconds,
        settings.parameter_cache_max_entries,
        on_lookup=lambda hit: metrics.count_cache("parameters", hit),
        missing_ttl=settings.parameter_missing_ttl_seconds,
        missing=_not_found,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        secrets.refresh(force=True)
        async with metrics_listener(settings, metrics):
            yield

    app = FastAPI(
        title="Kontaxa aux-service",
        version=settings.app_version,
        description="Internal service of the Kontaxa platform: S3 and SSM Parameter Store "
        "through boto3. Callers must present the shared service token.",
        lifespan=lifespan,
        **app_options(settings),
    )
    aws = AwsGateway(settings, metrics)
    store = ParameterStore(aws, parameter_cache, settings.parameter_prefix)
    # On app.state for tests; the routes hold their own references.
    app.state.settings = settings
    app.state.metadata = metadata
    app.state.metrics = metrics
    app.state.secrets = secrets
    app.state.aws = aws
    app.state.parameters = store
    install_common(app, metadata=metadata, metrics=metrics, meta=metadata.meta)
    open_routers, data_routers = build_routers(settings, metadata, secrets, aws, store)
    require_credentials(SERVICE_TOKEN_SCHEME, service_token_check(secrets, settings), data_routers)
    add_routes(app, *open_routers, *data_routers)
    return app


def _not_found(error: BaseException) -> Callable[[], Exception] | None:
    """How to answer a remembered 404 again: a fresh ApiError with the same envelope (none of
    the failed call, its botocore cause or traceback, is kept); other failures: None."""
    if not (isinstance(error, ApiError) and error.status == 404):
        return None
    status, code, message, headers = error.status, error.code, error.message, error.headers
    return lambda: ApiError(status, code, message, headers)
