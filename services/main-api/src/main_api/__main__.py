"""`python -m main_api`: serve main-api on $HOST:$PORT."""

from kontaxa_common.server import serve
from main_api.config import Settings

if __name__ == "__main__":
    serve("main_api.app:create_app", Settings())
