"""Case 1 of the benchmark: a minimal FastAPI app returning a constant.

Served exactly as the services are (kontaxa_common.server.serve: one uvicorn
worker, same loop and HTTP parser, no access log), so it is the ceiling that
the services' figures are divided by.
"""

from fastapi import FastAPI

from kontaxa_common.server import serve
from kontaxa_common.settings import ServiceSettings


def create_app() -> FastAPI:
    """An app with one endpoint returning a constant JSON body."""
    app = FastAPI()

    @app.get("/")
    async def constant() -> dict[str, str]:
        """Always the same small body."""
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    serve("ceiling:create_app", ServiceSettings())
