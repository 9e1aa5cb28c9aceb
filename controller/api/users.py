"""Who the caller is, on Hugging Face's path: ``GET /api/whoami-v2`` (what ``huggingface_hub``'s
``whoami()`` and ``huggingface-cli whoami`` call)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from controller.deps import CurrentUser, StoreDep, token_from_request
from controller.views import iso
from core import store

router = APIRouter(prefix="/api", tags=["users"])


@router.get("/whoami-v2")
def whoami(request: Request, r: StoreDep, caller: CurrentUser) -> dict:
    token = store.lookup_token(r, token_from_request(request) or "") or {}
    return {
        "type": "user",
        "id": caller.name,
        "name": caller.name,
        "fullname": caller.name,
        "email": None,
        "emailVerified": False,
        "isPro": False,
        "canPay": False,
        "avatarUrl": None,
        "orgs": [],
        "auth": {
            "type": "access_token",
            "accessToken": {
                "displayName": token.get("name", "default"),
                "role": caller.token_role,
                "createdAt": iso(token.get("created_at")),
            },
        },
    }
