"""Run a service under uvicorn with the settings every service shares."""

import uvicorn

from kontaxa_common.settings import ServiceSettings


def serve(factory: str, settings: ServiceSettings) -> None:
    """Serve the app that `factory` ("module:function") builds; graceful on SIGTERM."""
    uvicorn.run(
        factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        # Logging is configured by the app factory (JSON); uvicorn must not override it.
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )
