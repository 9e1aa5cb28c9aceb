"""The REST API: one router per resource, gathered here."""

from fastapi import APIRouter

from controller.api import envvars, hub, orgs, runtime, spaces, users

api_router = APIRouter()
api_router.include_router(spaces.router)
api_router.include_router(runtime.router)
api_router.include_router(envvars.router)
api_router.include_router(users.router)
api_router.include_router(orgs.router)
api_router.include_router(hub.router)
