"""Pages: the Space gallery (``/``) and a Space's page (``/spaces/{owner}/{name}``).

Both are readable without JavaScript; ``static/app.js`` only refreshes the stage badge live.
Visitors see what the API would show them: private Spaces only to those who may read them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from controller.deps import OptionalUser, StoreDep
from controller.views import space_view
from core import store
from core.access import may_read_space, require_read
from core.errors import SpacesError
from core.names import parse_space_id
from core.settings import get_settings
from core.stages import Stage

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
static_files = StaticFiles(directory=HERE / "static")
router = APIRouter(tags=["pages"], include_in_schema=False)

SDKS = ("gradio", "streamlit", "docker", "static")
# HF's colorFrom/colorTo names → CSS colours with enough contrast for white text.
COLOURS = {"red": "#dc2626", "yellow": "#ca8a04", "green": "#16a34a", "blue": "#2563eb", "indigo": "#4f46e5",
           "purple": "#9333ea", "pink": "#db2777", "gray": "#4b5563"}
STAGE_TONE = {"RUNNING": "ok", "SLEEPING": "rest", "PAUSED": "rest", "STOPPED": "rest", "BUILDING": "busy",
              "APP_STARTING": "busy", "RUNNING_BUILDING": "ok", "RUNNING_APP_STARTING": "ok", "DELETING": "busy"}


def card(space: dict, settings) -> dict:
    view = space_view(space, settings)
    stage = view["runtime"]["stage"]
    return {**view, "title": view["cardData"]["title"], "emoji": view["cardData"]["emoji"] or "🚀",
            "description": view["cardData"]["short_description"] or "",
            "colour_from": COLOURS.get(space.get("color_from") or "", COLOURS["indigo"]),
            "colour_to": COLOURS.get(space.get("color_to") or "", COLOURS["purple"]),
            "stage": stage, "tone": "error" if Stage(stage).is_error else STAGE_TONE.get(stage, "rest"),
            "pinned": bool(space.get("pinned"))}


@router.get("/", response_class=HTMLResponse)
def gallery(request: Request, r: StoreDep, caller: OptionalUser, q: str = "", sdk: str = "", owner: str = "") -> Response:
    settings = get_settings()
    spaces = [s for s in store.list_spaces(r, author=owner or None) if may_read_space(caller, s)]
    if sdk in SDKS:
        spaces = [s for s in spaces if s.get("sdk") == sdk]
    if q:
        needle = q.lower()
        spaces = [s for s in spaces if needle in s["id"].lower() or needle in (s.get("title") or "").lower()
                  or needle in (s.get("short_description") or "").lower()]
    cards = [card(s, settings) for s in spaces]
    if owner:  # a profile: pinned Spaces first
        cards.sort(key=lambda c: not c["pinned"])
    return templates.TemplateResponse(request, "gallery.html", {
        "cards": cards, "q": q, "sdk": sdk, "owner": owner, "sdks": SDKS, "caller": caller,
        "title": f"Spaces of {owner}" if owner else "Spaces"})


@router.get("/spaces/{owner}/{name}", response_class=HTMLResponse)
def space_page(request: Request, owner: str, name: str, r: StoreDep, caller: OptionalUser) -> Response:
    try:
        space = store.require_space(r, parse_space_id(owner, name))
        require_read(caller, space)
    except SpacesError:
        return templates.TemplateResponse(request, "missing.html", {"caller": caller, "title": "Not found",
                                                                    "space_id": f"{owner}/{name}"}, status_code=404)
    info = card(space, get_settings())
    return templates.TemplateResponse(request, "space.html", {
        "space": info, "caller": caller, "title": info["title"],
        "embed": not space.get("disable_embedding"), "full_width": space.get("full_width", "1") == "1",
        "error": info["runtime"].get("errorMessage")})
