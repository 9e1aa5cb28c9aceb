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

from controller.deps import OptionalUser, StoreDep, form_csrf
from controller.views import build_view, space_view
from core import keys, repos, store
from core.access import may_read_space, require_read
from core.errors import SpacesError
from core.models import Space
from core.names import parse_space_id
from core.replies import entries, texts
from core.settings import get_settings
from core.stages import Stage

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
static_files = StaticFiles(directory=HERE / "static")
router = APIRouter(tags=["pages"], include_in_schema=False)

SDKS = ("gradio", "streamlit", "docker", "static")
LOG_LINES = 500
# HF's colorFrom/colorTo names → CSS colours with enough contrast for white text.
COLOURS = {"red": "#dc2626", "yellow": "#a16207", "green": "#15803d", "blue": "#2563eb", "indigo": "#4f46e5",
           "purple": "#9333ea", "pink": "#db2777", "gray": "#4b5563"}
STAGE_TONE = {"RUNNING": "ok", "SLEEPING": "rest", "PAUSED": "rest", "STOPPED": "rest", "BUILDING": "busy",
              "APP_STARTING": "busy", "RUNNING_BUILDING": "ok", "RUNNING_APP_STARTING": "ok", "DELETING": "busy"}


def card(space: Space, settings, caller=None) -> dict:
    view = space_view(space, settings, caller)
    stage = view["runtime"]["stage"]
    return {**view, "title": view["cardData"]["title"], "emoji": view["cardData"]["emoji"] or "🚀",
            "description": view["cardData"]["short_description"] or "",
            "colour_from": COLOURS.get(space.color_from, COLOURS["indigo"]),
            "colour_to": COLOURS.get(space.color_to, COLOURS["purple"]),
            "stage": stage, "tone": "error" if Stage(stage).is_error else STAGE_TONE.get(stage, "rest"),
            "pinned": space.pinned, "header": space.header or "default"}


@router.get("/", response_class=HTMLResponse)
def gallery(request: Request, r: StoreDep, caller: OptionalUser, q: str = "", sdk: str = "", owner: str = "") -> Response:
    settings = get_settings()
    spaces = [s for s in store.list_spaces(r, author=owner or None) if may_read_space(caller, s)]
    if sdk in SDKS:
        spaces = [s for s in spaces if s.sdk == sdk]
    if q:
        needle = q.lower()
        spaces = [s for s in spaces if needle in s.id.lower() or needle in s.title.lower()
                  or needle in s.short_description.lower()]
    cards = [card(s, settings, caller) for s in spaces]
    if owner:  # a profile: pinned Spaces first
        cards.sort(key=lambda c: not c["pinned"])
    return templates.TemplateResponse(request, "gallery.html", {
        "cards": cards, "q": q, "sdk": sdk, "owner": owner, "sdks": SDKS, "caller": caller,
        "title": f"Spaces of {owner}" if owner else "Spaces"})


def space_or_404(request: Request, r, owner: str, name: str, caller, *, repo: bool = False) -> Space | Response:
    """The Space, or a 404 page for a Space that is missing or hidden from ``caller``."""
    try:
        space = store.require_space(r, parse_space_id(owner, name))
        require_read(caller, space, repo=repo)
        return space
    except SpacesError:
        return templates.TemplateResponse(request, "missing.html", {"caller": caller, "title": "Not found",
                                                                    "space_id": f"{owner}/{name}"}, status_code=404)


def space_context(space: Space, caller, tab: str) -> dict:
    info = card(space, get_settings(), caller)
    owner_view = caller is not None and caller.role_in(space.owner) in ("write", "admin")
    return {"space": info, "caller": caller, "title": info["title"], "tab": tab, "owner_view": owner_view,
            "error": info["runtime"].get("errorMessage")}


@router.get("/spaces/{owner}/{name}", response_class=HTMLResponse)
def space_page(request: Request, owner: str, name: str, r: StoreDep, caller: OptionalUser) -> Response:
    space = space_or_404(request, r, owner, name, caller)
    if isinstance(space, Response):
        return space
    return templates.TemplateResponse(request, "space.html", {
        **space_context(space, caller, "app"),
        "embed": not space.disable_embedding, "full_width": space.full_width})


@router.get("/spaces/{owner}/{name}/logs", response_class=HTMLResponse)
def logs_page(request: Request, owner: str, name: str, r: StoreDep, caller: OptionalUser) -> Response:
    """The latest build's log (and, for owners, the app's output): the lines so far in the page,
    then live over server-sent events."""
    space = space_or_404(request, r, owner, name, caller, repo=True)
    if isinstance(space, Response):
        return space
    context = space_context(space, caller, "logs")
    build_id = space.latest_build
    build_log = store.read_log(r, build_id, last=LOG_LINES) if build_id else []
    run_log = [f["line"] for _, f in reversed(entries(r.xrevrange(keys.space_run_log(space.id), count=LOG_LINES)))] \
        if context["owner_view"] else []
    return templates.TemplateResponse(request, "logs.html", {**context, "build_log": build_log, "run_log": run_log,
                                                             "build_id": build_id})


@router.get("/spaces/{owner}/{name}/builds", response_class=HTMLResponse)
def builds_page(request: Request, owner: str, name: str, r: StoreDep, caller: OptionalUser) -> Response:
    space = space_or_404(request, r, owner, name, caller, repo=True)
    if isinstance(space, Response):
        return space
    builds = [store.get_build(r, b) for b in texts(r.lrange(keys.space_builds(space.id), 0, 99))]
    return templates.TemplateResponse(request, "builds.html", {
        **space_context(space, caller, "builds"), "builds": [build_view(b) for b in builds if b],
        "serving": space.running_build, "csrf": form_csrf(request) if caller else ""})


MAX_SHOWN = 512 * 1024


@router.get("/spaces/{owner}/{name}/files", response_class=HTMLResponse)
def files_page(request: Request, owner: str, name: str, r: StoreDep, caller: OptionalUser, rev: str = "main",
               path: str = "") -> Response:
    """The repository at a commit (``rev``, default main): every file, or one text file (``path``)."""
    space = space_or_404(request, r, owner, name, caller, repo=True)
    if isinstance(space, Response):
        return space
    context = space_context(space, caller, "files")
    commit = repos.resolve_revision(space.id, rev)
    files = repos.list_files(space.id, commit) if commit else []
    shown, binary = None, False
    if path and commit:
        found = repos.read_file(space.id, commit, path)
        if found is None:
            return templates.TemplateResponse(request, "missing.html", {**context, "title": "No such file",
                                              "reason": f"{space.id} has no file {path!r} at {rev}"}, status_code=404)
        content = found[0]
        try:
            shown = content[:MAX_SHOWN].decode("utf-8")
        except UnicodeDecodeError:
            binary = True
    return templates.TemplateResponse(request, "files.html", {
        **context, "rev": rev, "commit": commit, "files": files, "path": path, "shown": shown, "binary": binary,
        "truncated": shown is not None and len(shown.encode()) >= MAX_SHOWN, "commits": repos.recent_commits(space.id)})
