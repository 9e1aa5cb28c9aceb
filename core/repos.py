"""The Spaces' bare git repositories: ``<data dir>/repos/<owner>/<name>.git``.

Each repository gets a ``post-receive`` hook that runs :mod:`controller.git_hook` with this
process's Python, so a push records a build and reports its progress back to the pusher.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shlex
import subprocess
import sys
import time
from pathlib import Path

from core.errors import Conflict, InvalidInput, SpacesError
from core.settings import get_settings

log = logging.getLogger(__name__)

DEFAULT_BRANCH = "main"


def repo_path(space_id: str) -> Path:
    return get_settings().repos_dir / f"{space_id}.git"


HOOKS = ("pre-receive", "post-receive")


def hook_text(hook: str) -> str:
    # The hook is a file git executes; the only variable part is the (quoted) interpreter path.
    return f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m controller.git_hook {hook}\n"


def install_hooks(path: Path) -> None:
    for name in HOOKS:
        hook = path / "hooks" / name
        text = hook_text(name)
        if hook.is_file() and hook.read_text() == text:
            continue
        tmp = hook.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, hook)


def ensure_repo(space_id: str) -> Path:
    """Create the bare repository if it is missing (idempotent) and keep its hook current."""
    path = repo_path(space_id)
    if not (path / "HEAD").is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        run = subprocess.run(
            ["git", "init", "--quiet", "--bare", f"--initial-branch={DEFAULT_BRANCH}", str(path)],
            capture_output=True, text=True, check=False,
        )
        if run.returncode != 0:
            raise SpacesError(f"could not create the repository of {space_id}", detail=run.stderr)
        for key, value in (("receive.advertisePushOptions", "true"), ("http.receivepack", "true"),
                           ("receive.denyNonFastForwards", "false"), ("core.logAllRefUpdates", "true")):
            subprocess.run(["git", f"--git-dir={path}", "config", key, value], check=True)
    install_hooks(path)
    return path


def space_id_from_git_dir(git_dir: Path) -> str:
    """Invert :func:`repo_path` (used by the hook, which only knows ``GIT_DIR``)."""
    rel = git_dir.resolve().relative_to(get_settings().repos_dir.resolve())
    owner, name = rel.parts[0], rel.parts[1].removesuffix(".git")
    return f"{owner}/{name}"


def head_commit(space_id: str) -> str | None:
    """The commit ``main`` points at, or None for an empty repository."""
    run = subprocess.run(
        ["git", f"--git-dir={repo_path(space_id)}", "rev-parse", "--verify", "--quiet", f"refs/heads/{DEFAULT_BRANCH}"],
        capture_output=True, text=True, check=False,
    )
    return run.stdout.strip() or None


def has_refs(space_id: str) -> bool:
    """True if the repository exists and holds any branch or tag (a push stored something)."""
    path = repo_path(space_id)
    if not (path / "HEAD").is_file():
        return False
    run = subprocess.run(["git", f"--git-dir={path}", "for-each-ref", "--count=1", "--format=%(refname)"],
                         capture_output=True, text=True, check=False)
    return run.returncode != 0 or bool(run.stdout.strip())  # unreadable: keep it


# ---------------------------------------------------------------- files and commits without git (the HF API)

ZERO = "0" * 40
PATH_RULE = "a relative path of printable characters without '..', '\\\\', '\"' or a '.git' component"


def _git(space_id: str, *args: str, data: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", f"--git-dir={repo_path(space_id)}", *args], input=data, capture_output=True, check=check)


def resolve_revision(space_id: str, revision: str) -> str | None:
    """The commit a branch, tag or commit id names, or None."""
    if not revision or revision.startswith("-"):
        return None
    run = _git(space_id, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
    return run.stdout.decode().strip() or None


def list_files(space_id: str, commit: str) -> list[dict]:
    """``[{"path", "size", "oid"}]`` of every file in ``commit``."""
    listing = _git(space_id, "ls-tree", "-r", "-l", "-z", commit).stdout
    files = []
    for entry in filter(None, listing.split(b"\0")):
        meta, _, raw_path = entry.partition(b"\t")
        _, kind, sha, size = meta.decode().split()
        if kind == "blob":
            files.append({"path": raw_path.decode(errors="replace"), "size": int(size) if size != "-" else 0, "oid": sha})
    return files


def read_file(space_id: str, commit: str, path: str) -> tuple[bytes, str] | None:
    """``(content, blob id)`` of ``path`` in ``commit``, or None if there is no such file."""
    run = _git(space_id, "rev-parse", "--verify", "--quiet", f"{commit}:{path}", check=False)
    oid = run.stdout.decode().strip()
    if not oid or _git(space_id, "cat-file", "-t", oid, check=False).stdout.strip() != b"blob":
        return None
    return _git(space_id, "cat-file", "blob", oid).stdout, oid


def validate_path(path: object) -> str:
    if not isinstance(path, str) or not path or len(path) > 1024 or path.startswith("/") or any(
        c in path for c in '\\"\n\r\0') or not path.isprintable():
        raise InvalidInput(f"invalid file path {path!r}: use {PATH_RULE}")
    parts = path.strip("/").split("/")
    if any(p in ("", ".", "..") for p in parts) or any(p == ".git" for p in parts):
        raise InvalidInput(f"invalid file path {path!r}: use {PATH_RULE}")
    return path.strip("/")


def commit_files(space_id: str, *, parent: str | None, files: dict[str, bytes], deletions: list[str],
                 message: str, author: str, check=None) -> str:
    """Write one commit on ``main`` with ``files`` added or replaced and ``deletions`` (files or
    folders) removed, on top of ``parent`` (None: the repository is empty). Fails with Conflict if
    ``main`` moved meanwhile, or with InvalidInput if ``check(commit)`` names problems (the limits a
    push is held to); returns the new commit id. Nothing is stored if it fails."""
    stream = [f"commit refs/spaces-upload/{os.getpid()}-{time.time_ns()}".encode()]
    ref = stream[0].split(b" ", 1)[1].decode()
    stream.append(f"committer {author} <{author}@users.spaces> {int(time.time())} +0000".encode())
    body = message.encode()
    stream += [f"data {len(body)}".encode(), body]
    if parent:
        stream.append(f"from {parent}".encode())
    stream += [f"D {path}".encode() for path in deletions]
    for path, content in files.items():
        stream += [f"M 100644 inline {path}".encode(), f"data {len(content)}".encode(), content]
    run = _git(space_id, "fast-import", "--quiet", "--done", data=b"\n".join(stream) + b"\ndone\n", check=False)
    if run.returncode != 0:
        raise SpacesError("the commit could not be written", detail=run.stderr.decode(errors="replace"))
    try:
        new = _git(space_id, "rev-parse", ref).stdout.decode().strip()
        problems = check(new) if check else []
        if problems:
            raise InvalidInput("the commit was refused: " + "; ".join(problems))
        moved = _git(space_id, "update-ref", "-m", f"upload by {author}", f"refs/heads/{DEFAULT_BRANCH}", new, parent or ZERO,
                     check=False)
        if moved.returncode != 0:
            raise Conflict(f"{space_id} changed while this commit was made (someone pushed); fetch and try again")
    finally:
        _git(space_id, "update-ref", "-d", ref, check=False)
    return new


def copy_repo(source: str, target: str) -> str | None:
    """Give ``target``'s (new) repository the history of ``source``'s main; returns its head."""
    head = head_commit(source)
    if head is None:
        return None
    _git(target, "fetch", "--quiet", str(repo_path(source)), f"refs/heads/{DEFAULT_BRANCH}:refs/heads/{DEFAULT_BRANCH}")
    return head


def revert_to(space_id: str, commit: str, *, author: str, message: str) -> str:
    """A new commit on ``main`` whose files are those of ``commit`` (a roll-back that keeps history);
    returns its id. Fails with Conflict if ``main`` moves meanwhile."""
    head = head_commit(space_id)
    tree = _git(space_id, "rev-parse", f"{commit}^{{tree}}").stdout.decode().strip()
    identity = {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": f"{author}@users.spaces",
                "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": f"{author}@users.spaces"}
    new = subprocess.run(["git", f"--git-dir={repo_path(space_id)}", "commit-tree", tree, *(["-p", head] if head else []),
                          "-m", message], capture_output=True, check=True, env={**os.environ, **identity}).stdout.decode().strip()
    moved = _git(space_id, "update-ref", "-m", message, f"refs/heads/{DEFAULT_BRANCH}", new, head or ZERO, check=False)
    if moved.returncode != 0:
        raise Conflict(f"{space_id} changed meanwhile (someone pushed); try again")
    return new


def recent_commits(space_id: str, count: int = 20) -> list[dict]:
    """The newest commits of main: ``[{"id", "author", "time", "summary"}]``."""
    if head_commit(space_id) is None:
        return []
    out = _git(space_id, "log", f"-n{count}", "--format=%H%x00%an%x00%at%x00%s", f"refs/heads/{DEFAULT_BRANCH}").stdout
    return [dict(zip(("id", "author", "time", "summary"), line.split("\0", 3), strict=False))
            for line in out.decode(errors="replace").splitlines() if line]


def tree_problems(commit: str, git_dir: Path | None = None) -> list[str]:
    """Why the tree of ``commit`` may not be stored: over the limits, or a link leaving the repo.
    (In the hook git's environment names the repository; API commits pass ``git_dir``.)"""
    settings = get_settings()
    git = ["git", *([f"--git-dir={git_dir}"] if git_dir else [])]
    listing = subprocess.run([*git, "ls-tree", "-r", "-l", "-z", commit], capture_output=True, check=True).stdout
    files, size, problems = 0, 0, []
    for entry in filter(None, listing.split(b"\0")):
        meta, _, raw_path = entry.partition(b"\t")
        mode, kind, sha, blob_size = meta.decode().split()
        path = raw_path.decode(errors="replace")
        if kind != "blob":
            continue
        files += 1
        size += int(blob_size) if blob_size != "-" else 0
        if mode == "120000":
            target = subprocess.run([*git, "cat-file", "blob", sha], capture_output=True, check=True).stdout.decode(errors="replace")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
                problems.append(f"symlink '{path}' points outside the repository (to '{target}'); only links inside it are allowed")
    if files > settings.max_repo_files:
        problems.append(f"the commit has {files} files; the limit is {settings.max_repo_files} (SPACES_MAX_REPO_FILES)")
    if size > settings.max_repo_mb * 1024 * 1024:
        problems.append(f"the commit's files add up to {size / 2**20:.1f} MiB; the limit is {settings.max_repo_mb} MiB (SPACES_MAX_REPO_MB)")
    return problems


def object_problem(sha: str, ref: str, git_dir: Path | None = None) -> str | None:
    """Why ``ref`` may not point at ``sha``: only commits, and tags of commits, may be pushed (a tag
    of a blob or a tree has no files to build, and its size would escape the repository limits)."""
    git = ["git", *([f"--git-dir={git_dir}"] if git_dir else [])]
    kind = subprocess.run([*git, "cat-file", "-t", sha], capture_output=True, text=True, check=False).stdout.strip()
    tagged = kind == "tag"
    if tagged:
        peeled = subprocess.run([*git, "rev-parse", "--verify", "--quiet", f"{sha}^{{}}"], capture_output=True, text=True, check=False)
        kind = subprocess.run([*git, "cat-file", "-t", peeled.stdout.strip()], capture_output=True,
                              text=True, check=False).stdout.strip() if peeled.returncode == 0 else ""
    if kind == "commit":
        return None
    what = f"a {kind}" if kind in ("blob", "tree") else "an object that cannot be read"
    return f"{ref} points at {what}{' through a tag' if tagged else ''}; only commits and tags of commits may be pushed"
