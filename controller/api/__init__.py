"""The REST API: one router per resource, gathered here. Request and response bodies are in
:mod:`controller.api.models`; every failure answers :class:`controller.errors.ErrorBody`."""

from fastapi import APIRouter

from controller.api import envvars, hub, orgs, runtime, spaces, users
from controller.errors import ERROR_RESPONSES

api_router = APIRouter(responses=ERROR_RESPONSES)
api_router.include_router(spaces.router)
api_router.include_router(runtime.router)
api_router.include_router(envvars.router)
api_router.include_router(users.router)
api_router.include_router(orgs.router)
api_router.include_router(hub.router)
