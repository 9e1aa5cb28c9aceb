"""The Spaces' bare git repositories: ``<data dir>/repos/<owner>/<name>.git``.

Each repository gets a ``post-receive`` hook that runs :mod:`controller.git_hook` with this
process's Python, so a push records a build and reports its progress back to the pusher.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

from core.errors import SpacesError
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
            capture_output=True, text=True,
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
        capture_output=True, text=True,
    )
    return run.stdout.strip() or None
