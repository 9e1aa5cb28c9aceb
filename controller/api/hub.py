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
from typing import Any
from urllib.parse import unquote

import redis
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from builder.config import parse_config
from controller.api.models import (
    CommitAnswer,
    Duplicate,
    Duplicated,
    NewRepo,
    Preupload,
    PreuploadAnswer,
    RepoCreated,
    RepoExists,
    RepoRef,
    SpaceDeletion,
    SpaceOptions,
    SpaceRepoInfo,
    YamlCheck,
    YamlReport,
)
from controller.deps import CurrentUser, OptionalUser, OwnedSpace, ReadableRepo, StoreDep, owned_space
from controller.errors import error_response
from controller.views import space_view
from core import accounts, envvars, repos, services, store
from core.access import Caller, require_write
from core.errors import ConfigError, Conflict, InvalidInput, NotFound, RevisionNotFound
from core.models import Visibility
from core.names import parse_space_id
from core.queues import queue_build
from core.settings import get_settings
from core.stages import Stage

router = APIRouter(prefix="/api", tags=["Hugging Face Hub"])

EXISTS: dict[int | str, dict[str, Any]] = {409: {"model": RepoExists, "description": "The Space exists already (or was created meanwhile)"}}


def repo_url(space_id: str) -> str:
    settings = get_settings()
    return f"{settings.public_url(settings.domain)}/spaces/{space_id}"


def _new_space(r: redis.Redis, caller: Caller, space_id: str, *, sdk: str, visibility: str, options: SpaceOptions) -> JSONResponse | None:
    """Create the Space (record and empty repository) or answer 409 with its URL if it exists."""
    owner = space_id.split("/", 1)[0]
    require_write(caller, owner)
    if accounts.namespace_kind(r, owner) is None:
        raise NotFound(f"there is no user or organization '{owner}'")
    if store.get_space(r, space_id) is not None:
        return error_response(409, f"You already created this space repo: {space_id}", summary=f"{space_id} already exists",
                              url=repo_url(space_id))
    try:
        store.create_space(r, space_id, sdk=sdk)
    except Conflict:
        return error_response(409, f"{space_id} was created meanwhile", url=repo_url(space_id))
    repos.ensure_repo(space_id)
    fields: dict[str, object] = {"visibility": Visibility(visibility)}
    if options.hardware:
        fields["hardware"] = options.hardware
    if options.sleep_time_seconds is not None:
        fields["sleep_seconds"] = options.sleep_time_seconds
    store.update_space(r, space_id, **fields)
    for entry in options.variables:
        envvars.set_variable(r, space_id, entry.key, entry.value, entry.description, at=store.now())
    for entry in options.secrets:
        envvars.set_secret(r, space_id, entry.key, entry.value, entry.description, at=store.now())
    return None


@router.post("/repos/create", response_model=RepoCreated, responses=EXISTS)
def create_repo(caller: CurrentUser, body: NewRepo, r: StoreDep) -> RepoCreated | JSONResponse:
    space_id = parse_space_id(body.organization or caller.name, body.name)
    refused = _new_space(r, caller, space_id, sdk=body.sdk, visibility=body.visibility_or("public"), options=body)
    if refused is not None:
        return refused
    return RepoCreated(url=repo_url(space_id), name=space_id, id=space_id)


def start_delete(r: redis.Redis, space_id: str) -> dict:
    services.delete(r, store.require_space(r, space_id))
    return {"id": space_id, "stage": Stage.DELETING.value}


@router.delete("/repos/delete", response_model=SpaceDeletion)
def delete_repo(caller: CurrentUser, body: RepoRef, r: StoreDep) -> dict:
    space_id, _ = owned_space(r, body.organization or caller.name, body.name, caller)
    return start_delete(r, space_id)


@router.post("/spaces/{owner}/{name}/preupload/{revision}", response_model=PreuploadAnswer)
def preupload(revision: str, space: OwnedSpace, body: Preupload) -> dict:
    head = repos.resolve_revision(space.id, unquote(revision))
    known = {f["path"]: f["oid"] for f in repos.list_files(space.id, head)} if head else {}
    return {"files": [{"path": f.path, "uploadMode": "regular", "shouldIgnore": False, "oid": known.get(f.path)} for f in body.files]}


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


NDJSON_BODY = {"requestBody": {"required": True, "description": "huggingface_hub's commit: one JSON object a line, "
                               '{"key": "header" | "file" | "deletedFile" | "deletedFolder", "value": {...}}',
                               "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}}


@router.post("/spaces/{owner}/{name}/commit/{revision}", response_model=CommitAnswer, openapi_extra=NDJSON_BODY)
async def create_commit(revision: str, request: Request, r: StoreDep, caller: CurrentUser, space: OwnedSpace) -> dict:
    space_id = space.id
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
        author=caller.name, check=lambda c: repos.tree_problems(c, path))
    build_id = queue_build(r, space_id, commit)
    return {"success": True, "commitOid": commit, "commitUrl": f"{repo_url(space_id)}/commit/{commit}",
            "commitMessage": message, "pullRequestUrl": None, "build": build_id}


@router.post("/spaces/{owner}/{name}/duplicate", response_model=Duplicated, responses=EXISTS)
def duplicate(caller: CurrentUser, source: ReadableRepo, body: Duplicate, r: StoreDep) -> Duplicated | JSONResponse:
    target_id = parse_space_id(*body.repository.split("/"))
    refused = _new_space(r, caller, target_id, sdk=source.record.sdk,
                         visibility=body.visibility_or(source.record.visibility.value), options=body)
    if refused is not None:
        return refused
    given = {e.key for e in body.variables} | {e.key for e in body.secrets}
    for key, record in envvars.list_variables(r, source.id).items():  # variables come along; secrets must be given
        if key not in given:
            envvars.set_variable(r, target_id, key, record["value"], record.get("description", ""), at=store.now())
    head = repos.copy_repo(source.id, target_id)
    if head:
        queue_build(r, target_id, head)
    return Duplicated(url=repo_url(target_id), id=target_id)


@router.get("/spaces/{owner}/{name}/revision/{revision}", response_model=SpaceRepoInfo, response_model_exclude_unset=True)
def space_at_revision(revision: str, caller: OptionalUser, space: ReadableRepo) -> dict:
    commit = repos.resolve_revision(space.id, unquote(revision))
    if commit is None:
        raise RevisionNotFound(f"{space.id} has no revision {unquote(revision)!r}")
    return {**space_view(space.record, get_settings(), caller), **repo_fields(space.id, commit)}


def repo_fields(space_id: str, commit: str | None) -> dict:
    """``sha`` and ``siblings`` (the files) of the Space at ``commit``, as the Hub lists them."""
    files = repos.list_files(space_id, commit) if commit else []
    return {"sha": commit, "siblings": [{"rfilename": f["path"], "size": f["size"], "blobId": f["oid"]} for f in files]}


@router.post("/validate-yaml", response_model=YamlReport, responses={400: {"model": YamlReport, "description": "The front matter is invalid"}})
def validate_yaml(body: YamlCheck, response: Response) -> dict:
    """Check a README.md's front matter as a build would (huggingface_hub calls this before uploading one)."""
    if body.content is None:
        response.status_code = 400
        return {"errors": [{"message": "content must be the README.md text"}], "warnings": []}
    try:
        config = parse_config(body.content)
    except ConfigError as exc:
        response.status_code = 400
        return {"errors": [{"message": exc.message}], "warnings": []}
    return {"errors": [], "warnings": [{"message": w} for w in config.warnings()]}
