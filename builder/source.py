"""Getting a commit's files out of the Space's bare repository, safely."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

from core.errors import BuildFailed


def export_commit(repo: Path, commit: str, dest: Path) -> None:
    """Write the tree of ``commit`` into ``dest`` (no .git). Links out of the tree are refused."""
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["git", f"--git-dir={repo}", "archive", "--format=tar", commit],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            tar.extractall(dest, filter="data")
    except tarfile.FilterError as exc:
        proc.kill()
        raise BuildFailed(f"the repository contains a file the build refuses: {exc}") from exc
    except tarfile.TarError as exc:
        proc.kill()
        raise BuildFailed(f"could not read commit {commit[:12]}: {exc}") from exc
    finally:
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        rc = proc.wait()
    if rc != 0:
        raise BuildFailed(f"could not read commit {commit[:12]}: {stderr.strip()}")
