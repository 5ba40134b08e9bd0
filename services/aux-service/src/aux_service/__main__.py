"""`python -m aux_service`: serve aux-service on $HOST:$PORT."""

from aux_service.config import Settings
from kontaxa_common.server import serve

if __name__ == "__main__":
    serve("aux_service.app:create_app", Settings())
