"""main-api's routers, combined in one place."""

from fastapi import APIRouter

from main_api.routes import buckets, health, parameters

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(buckets.router)
api_router.include_router(parameters.router)
