"""A Space's files over HTTP, as the Hub serves them: ``GET``/``HEAD
/spaces/{owner}/{name}/resolve/{revision}/{path}`` (what ``hf_hub_download`` fetches), with the
``ETag`` (the git blob id) and ``X-Repo-Commit`` headers the client reads. Served from the same
bare repository git pushes to; private repositories need read access."""

from __future__ import annotations

import mimetypes
from urllib.parse import unquote

from fastapi import APIRouter, Response

from controller.deps import ReadableRepo
from core import repos
from core.errors import EntryNotFound, RevisionNotFound

router = APIRouter(tags=["files"], include_in_schema=False)


@router.api_route("/spaces/{owner}/{name}/resolve/{revision}/{path:path}", methods=["GET", "HEAD"], response_class=Response)
def resolve(revision: str, path: str, space: ReadableRepo) -> Response:
    space_id = space.id
    commit = repos.resolve_revision(space_id, unquote(revision))
    if commit is None:
        raise RevisionNotFound(f"{space_id} has no revision {unquote(revision)!r}")
    found = repos.read_file(space_id, commit, path)
    if found is None:
        raise EntryNotFound(f"{space_id} has no file {path!r} at {unquote(revision)}")
    content, oid = found
    media = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return Response(content, media_type=media, headers={
        "ETag": f'"{oid}"', "X-Repo-Commit": commit, "Cache-Control": "no-cache",
        "Content-Disposition": f'inline; filename="{path.rsplit("/", 1)[-1]}"',
    })
