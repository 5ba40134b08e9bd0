"""The main-api application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from kontaxa_common.logs import Redactor, configure_logging
from kontaxa_common.metrics import Metrics
from kontaxa_common.secrets import SecretFiles
from kontaxa_common.server import metrics_listener
from kontaxa_common.version import VersionMetadata
from kontaxa_common.web import add_routes, app_options, install_common, require_credentials
from main_api.clients.aux import AuxClient
from main_api.config import AUX_SERVICE, SERVICE_NAME, Settings
from main_api.deps import API_KEY_SCHEME, api_key_check
from main_api.routes import build_routers


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build main-api from `settings` (read from the environment when omitted)."""
    settings = settings or Settings()
    redactor = Redactor()
    configure_logging(SERVICE_NAME, settings.log_level, redactor)
    metadata = VersionMetadata(
        SERVICE_NAME,
        settings.app_version,
        settings.git_sha,
        settings.build_time,
        peers={AUX_SERVICE: None},
    )
    metrics = Metrics(SERVICE_NAME)
    secrets = SecretFiles(settings.secrets_dir, settings.secrets_reload_seconds, redactor)
    aux = AuxClient(settings, metadata, metrics, secrets)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        secrets.refresh(force=True)
        await aux.start()
        try:
            async with metrics_listener(settings, metrics):
                yield
        finally:
            await aux.close()

    app = FastAPI(
        title="Kontaxa main-api",
        version=settings.app_version,
        description="Public API of the Kontaxa platform. Every AWS operation is delegated to "
        "aux-service; every response carries version metadata.",
        lifespan=lifespan,
        **app_options(settings),
    )
    app.state.settings = settings
    app.state.metadata = metadata
    app.state.metrics = metrics
    app.state.secrets = secrets
    app.state.aux = aux
    install_common(app, metadata=metadata, metrics=metrics, meta=metadata.meta)
    open_routers, data_routers = build_routers(metadata, secrets, aux)
    require_credentials(API_KEY_SCHEME, api_key_check(secrets), data_routers)
    add_routes(app, *open_routers, *data_routers)
    return app
