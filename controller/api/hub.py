"""Repositories on Hugging Face's paths, so that an unmodified ``huggingface_hub`` works here.

- ``POST /api/repos/create``, ``DELETE /api/repos/delete`` (``create_repo``, ``delete_repo``);
- ``POST /api/spaces/{id}/preupload/{rev}``: every file is uploaded as a regular git blob;
- ``POST /api/spaces/{id}/commit/{rev}``: the NDJSON commit (``upload_file``, ``upload_folder``,
  ``create_commit``), written into the same bare repository ``git push`` writes, and built;
- ``POST /api/spaces/{id}/duplicate`` (``duplicate_space``, ``duplicate_repo``);
- ``GET /api/spaces/{id}/revision/{rev}`` (``space_info(revision=…)``);
- ``POST /api/validate-yaml``: our own README front-matter validation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from urllib.parse import unquote

import redis
from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from builder.config import parse_config
from controller import repos
from controller.api.runtime import check_sleep_seconds
from controller.deps import CurrentUser, OptionalUser, StoreDep, owned_space, readable_space
from controller.git_hook import tree_problems
from controller.views import space_view
from core import accounts, envvars, store
from core.access import Caller, require_write, visibility_from
from core.errors import ConfigError, Conflict, InvalidInput, NotFound, RevisionNotFound
from core.hardware import TIERS
from core.names import parse_space_id
from core.queues import enqueue_delete, queue_build
from core.settings import get_settings
from core.stages import Stage

router = APIRouter(prefix="/api", tags=["Hugging Face Hub"])

SDKS = ("gradio", "streamlit", "docker", "static")


def repo_url(space_id: str) -> str:
    settings = get_settings()
    return f"{settings.public_url(settings.domain)}/spaces/{space_id}"


def _only_spaces(kind: object) -> None:
    if kind != "space":
        raise InvalidInput(f"only Spaces are hosted here: the repo type must be 'space'; got {kind!r}")


def _env_entries(body: dict, field: str) -> list[dict]:
    entries = body.get(field) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("key"), str) for e in entries):
        raise InvalidInput(f"{field} must be a list of {{\"key\", \"value\", \"description\"}}")
    for entry in entries:
        envvars.validate_key(entry["key"], field.rstrip("s"))
    return entries


def _space_options(body: dict) -> dict:
    """The Space settings a create or duplicate request may carry, checked before anything is made."""
    hardware = body.get("hardware")
    if hardware is not None and hardware not in TIERS:
        raise InvalidInput(f"hardware must be one of {', '.join(TIERS)} (this platform has no GPUs); got {hardware!r}")
    sleep = body.get("sleepTimeSeconds")
    if sleep is not None:
        check_sleep_seconds(sleep, "sleepTimeSeconds")
    return {"hardware": hardware, "sleep": sleep, "secrets": _env_entries(body, "secrets"),
            "variables": _env_entries(body, "variables")}


def _new_space(r: redis.Redis, caller: Caller, space_id: str, *, sdk: str, visibility: str, options: dict) -> JSONResponse | None:
    """Create the Space (record and empty repository) or answer 409 with its URL if it exists."""
    owner = space_id.split("/", 1)[0]
    require_write(caller, owner)
    if accounts.namespace_kind(r, owner) is None:
        raise NotFound(f"there is no user or organization '{owner}'")
    if store.get_space(r, space_id) is not None:
        return JSONResponse({"error": f"You already created this space repo: {space_id}", "url": repo_url(space_id)},
                            status_code=409, headers={"X-Error-Message": f"{space_id} already exists"})
    try:
        store.create_space(r, space_id, sdk=sdk)
    except Conflict:
        return JSONResponse({"error": f"{space_id} was created meanwhile", "url": repo_url(space_id)}, status_code=409)
    repos.ensure_repo(space_id)
    fields: dict[str, str] = {"visibility": visibility}
    if options["hardware"]:
        fields["hardware"] = options["hardware"]
    if options["sleep"] is not None:
        fields["sleep_seconds"] = str(options["sleep"])
    store.update_space(r, space_id, **fields)
    for entry in options["variables"]:
        envvars.set_variable(r, space_id, entry["key"], str(entry.get("value", "")), entry.get("description") or "", at=store.now())
    for entry in options["secrets"]:
        envvars.set_secret(r, space_id, entry["key"], str(entry.get("value", "")), entry.get("description") or "", at=store.now())
    return None


@router.post("/repos/create")
def create_repo(r: StoreDep, caller: CurrentUser, body: dict = Body(...)) -> JSONResponse:
    _only_spaces(body.get("type"))
    space_id = parse_space_id(body.get("organization") or caller.name, body.get("name"))
    sdk = body.get("sdk")
    if sdk not in SDKS:
        raise InvalidInput(f"sdk must be one of {', '.join(SDKS)}; got {sdk!r}")
    refused = _new_space(r, caller, space_id, sdk=sdk, visibility=visibility_from(body, 'public'), options=_space_options(body))
    if refused is not None:
        return refused
    return JSONResponse({"url": repo_url(space_id), "name": space_id, "id": space_id}, status_code=200)


def start_delete(r: redis.Redis, space_id: str) -> dict:
    store.set_stage(r, space_id, Stage.DELETING)
    enqueue_delete(r, space_id)
    return {"id": space_id, "stage": Stage.DELETING.value}


@router.delete("/repos/delete")
def delete_repo(r: StoreDep, caller: CurrentUser, body: dict = Body(...)) -> dict:
    _only_spaces(body.get("type"))
    owner = body.get("organization") or caller.name
    space_id, _ = owned_space(r, owner, body.get("name"), caller)
    return start_delete(r, space_id)


@router.post("/spaces/{owner}/{name}/preupload/{revision}")
def preupload(owner: str, name: str, revision: str, r: StoreDep, caller: CurrentUser, body: dict = Body(...)) -> dict:
    space_id, _ = owned_space(r, owner, name, caller)
    files = body.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        raise InvalidInput("files must be a list of {\"path\", \"size\", \"sample\"}")
    head = repos.resolve_revision(space_id, unquote(revision))
    known = {f["path"]: f["oid"] for f in repos.list_files(space_id, head)} if head else {}
    return {"files": [{"path": repos.validate_path(f.get("path")), "uploadMode": "regular", "shouldIgnore": False,
                       "oid": known.get(f.get("path"))} for f in files]}


def _parse_commit(raw: bytes) -> tuple[str, str | None, dict[str, bytes], list[str]]:
    """(message, parentCommit, files, deletions) from huggingface_hub's NDJSON commit."""
    message, parent, files, deletions = "", None, {}, []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, value = item["key"], item["value"]
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(f"line {number} of the commit is not an NDJSON {{\"key\", \"value\"}} object") from None
        if key == "header":
            summary, description = str(value.get("summary") or ""), str(value.get("description") or "")
            message = summary + (f"\n\n{description}" if description else "")
            parent = value.get("parentCommit")
        elif key == "file":
            path = repos.validate_path(value.get("path"))
            if value.get("encoding", "base64") != "base64":
                raise InvalidInput(f"file {path}: only base64 content is accepted")
            try:
                files[path] = base64.b64decode(value.get("content") or "", validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput(f"file {path}: its content is not valid base64") from None
        elif key in ("deletedFile", "deletedFolder"):
            deletions.append(repos.validate_path(value.get("path")))
        elif key == "lfsFile":
            raise InvalidInput("LFS uploads are not accepted here: preupload answers 'regular' for every file")
        else:
            raise InvalidInput(f"line {number}: unknown commit entry {key!r} (header, file, deletedFile, deletedFolder)")
    if not message.strip():
        raise InvalidInput("the commit needs a summary (commit message)")
    return message, parent, files, deletions


async def _read_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InvalidInput(f"the commit is over {limit // 2**20} MiB (SPACES_MAX_REPO_MB, base64 included)")
    return bytes(body)


@router.post("/spaces/{owner}/{name}/commit/{revision}")
async def create_commit(owner: str, name: str, revision: str, request: Request, r: StoreDep, caller: CurrentUser) -> dict:
    space_id, _ = owned_space(r, owner, name, caller)
    if unquote(revision) != repos.DEFAULT_BRANCH:
        raise InvalidInput(f"commits go to '{repos.DEFAULT_BRANCH}', the branch that is built; got {unquote(revision)!r}")
    if request.query_params.get("create_pr") in ("1", "true"):
        raise InvalidInput("pull requests are not supported here; commit to main")
    raw = await _read_body(request, get_settings().max_repo_mb * 2**20 * 4 // 3 + 2**20)
    message, parent, files, deletions = _parse_commit(raw)
    head = repos.head_commit(space_id)
    if parent and (head is None or not head.startswith(parent)):
        raise Conflict(f"parentCommit {parent} is not the head of main ({head}); someone committed meanwhile")
    path = repos.repo_path(space_id)
    commit = await asyncio.to_thread(
        repos.commit_files, space_id, parent=head, files=files, deletions=deletions, message=message,
        author=caller.name, check=lambda c: tree_problems(c, path))
    build_id = queue_build(r, space_id, commit)
    return {"success": True, "commitOid": commit, "commitUrl": f"{repo_url(space_id)}/commit/{commit}",
            "commitMessage": message, "pullRequestUrl": None, "build": build_id}


@router.post("/spaces/{owner}/{name}/duplicate")
def duplicate(owner: str, name: str, r: StoreDep, caller: CurrentUser, body: dict = Body(...)) -> JSONResponse:
    source_id, source = readable_space(r, owner, name, caller, repo=True)
    target = body.get("repository")
    if not isinstance(target, str) or target.count("/") != 1:
        raise InvalidInput(f"repository must be 'owner/name'; got {target!r}")
    target_id = parse_space_id(*target.split("/"))
    refused = _new_space(r, caller, target_id, sdk=source.get("sdk", ""), visibility=visibility_from(body, source.get("visibility") or "public"),
                         options=_space_options(body))
    if refused is not None:
        return refused
    given = {e["key"] for e in body.get("variables") or []} | {e["key"] for e in body.get("secrets") or []}
    for key, record in envvars.list_variables(r, source_id).items():  # variables come along; secrets must be given
        if key not in given:
            envvars.set_variable(r, target_id, key, record["value"], record.get("description", ""), at=store.now())
    head = repos.copy_repo(source_id, target_id)
    if head:
        queue_build(r, target_id, head)
    return JSONResponse({"url": repo_url(target_id), "id": target_id}, status_code=200)


@router.get("/spaces/{owner}/{name}/revision/{revision}")
def space_at_revision(owner: str, name: str, revision: str, r: StoreDep, caller: OptionalUser) -> dict:
    space_id, space = readable_space(r, owner, name, caller, repo=True)
    commit = repos.resolve_revision(space_id, unquote(revision))
    if commit is None:
        raise RevisionNotFound(f"{space_id} has no revision {unquote(revision)!r}")
    return {**space_view(space, get_settings(), caller), **repo_fields(space_id, commit)}


def repo_fields(space_id: str, commit: str | None) -> dict:
    """``sha`` and ``siblings`` (the files) of the Space at ``commit``, as the Hub lists them."""
    files = repos.list_files(space_id, commit) if commit else []
    return {"sha": commit, "siblings": [{"rfilename": f["path"], "size": f["size"], "blobId": f["oid"]} for f in files]}


@router.post("/validate-yaml")
def validate_yaml(body: dict = Body(...)) -> JSONResponse:
    """Check a README.md's front matter as a build would (huggingface_hub calls this before uploading one)."""
    content = body.get("content")
    if not isinstance(content, str):
        return JSONResponse({"errors": [{"message": "content must be the README.md text"}], "warnings": []}, status_code=400)
    try:
        config = parse_config(content)
    except ConfigError as exc:
        return JSONResponse({"errors": [{"message": exc.message}], "warnings": []}, status_code=400)
    return JSONResponse({"errors": [], "warnings": [{"message": w} for w in config.warnings()]})
